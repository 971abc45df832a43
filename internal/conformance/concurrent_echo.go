package conformance

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// The concurrent large-body echo: many keep-alive clients POST distinct
// bodies of about 300 KB to /echo at the same time, some reading their
// answers slowly, and every answer must be exactly its own request's body.
// It exists because the nbio engine once answered with other connections'
// bytes (nbio's chunked writer used pooled buffers after freeing them): a response
// must never carry another client's data, on any engine.
const (
	echoClients  = 24
	echoRounds   = 3
	echoBodySize = 300 << 10
	echoBlock    = 8 // bytes per block of the body pattern
)

// echoBody is request round of client c: blocks of 8 bytes, each naming
// (client, round, block index), so a foreign byte tells whose it is. Sizes
// differ per request, so a response of another request's length shows too.
func echoBody(client, round int) []byte {
	n := echoBodySize + client*echoBlock*3 + round*echoBlock
	b := make([]byte, n)
	for i := 0; i+echoBlock <= n; i += echoBlock {
		binary.BigEndian.PutUint16(b[i:], uint16(client))
		binary.BigEndian.PutUint16(b[i+2:], uint16(round))
		binary.BigEndian.PutUint32(b[i+4:], uint32(i/echoBlock))
	}
	return b
}

// describeMismatch says where got first differs from want and, when the
// block there is another request's, whose.
func describeMismatch(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	msg := fmt.Sprintf("%d bytes, want %d; first difference at byte %d", len(got), len(want), i)
	if blk := i / echoBlock * echoBlock; blk+echoBlock <= len(got) {
		c := binary.BigEndian.Uint16(got[blk:])
		r := binary.BigEndian.Uint16(got[blk+2:])
		msg += fmt.Sprintf(" (block there reads client %d round %d)", c, r)
	}
	return msg
}

// runConcurrentEcho runs the concurrent large-body echo against one engine
// whose body limit allows it (the default profile's is 64 bytes).
func runConcurrentEcho(t *testing.T, f Factory) {
	cfg := baseConfig()
	cfg.MaxBodyBytes = 1 << 20
	cfg.RequestTimeout = 30 * time.Second // bodies this size take a while under -race
	r := start(t, f, cfg)

	var wg sync.WaitGroup
	errs := make(chan error, echoClients)
	for c := range echoClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoClient(r.url, c, c%3 == 0)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// echoClient sends echoRounds requests on one keep-alive connection and
// checks each answer. A slow client reads its answer in small pieces with
// pauses, so the server has to hold the rest of the response meanwhile.
func echoClient(base string, client int, slow bool) error {
	tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for round := range echoRounds {
		body := echoBody(client, round)
		req, err := http.NewRequest("POST", base+AuthRoute, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+Token)
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("client %d round %d: %v", client, round, err)
		}
		got, err := readEcho(res.Body, slow)
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("client %d round %d: read the answer: %v", client, round, err)
		}
		if res.StatusCode != 200 {
			return fmt.Errorf("client %d round %d: status %d, want 200", client, round, res.StatusCode)
		}
		if !bytes.Equal(got, body) {
			return fmt.Errorf("client %d round %d: the answer is not its own body: %s", client, round, describeMismatch(got, body))
		}
	}
	return nil
}

func readEcho(body io.Reader, slow bool) ([]byte, error) {
	if !slow {
		return io.ReadAll(body)
	}
	var out bytes.Buffer
	buf := make([]byte, 16<<10)
	for {
		n, err := body.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
		time.Sleep(time.Millisecond)
	}
}
