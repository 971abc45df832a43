package nbioengine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/server"
)

// TestPipelinedEchoOwnBytes is the hostile run's worst case for the leak
// nbio's chunked writer caused: connections that pipeline large echoes and
// read their answers slowly, so that responses queue in nbio's buffers.
// Every answer must be its own request's body (the conformance suite's
// concurrent echo covers the plain case on every engine).
func TestPipelinedEchoOwnBytes(t *testing.T) {
	const (
		conns    = 10
		pipeline = 8
		size     = 300 << 10
	)
	addr := runEngine(t, server.Config{MaxBodyBytes: 1 << 20, RequestTimeout: 30 * time.Second})
	body := func(c, r int) []byte {
		b := make([]byte, size+8*r)
		for i := 0; i+8 <= len(b); i += 8 {
			binary.BigEndian.PutUint16(b[i:], uint16(c))
			binary.BigEndian.PutUint16(b[i+2:], uint16(r))
			binary.BigEndian.PutUint32(b[i+4:], uint32(i))
		}
		return b
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return err
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
				go func() { // the writer pipelines everything at once
					for r := range pipeline {
						b := body(c, r)
						head := "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(b)) + "\r\n\r\n"
						if _, err := nc.Write(append([]byte(head), b...)); err != nil {
							return
						}
					}
				}()
				br := bufio.NewReaderSize(nc, 4<<10)
				for r := range pipeline {
					time.Sleep(20 * time.Millisecond) // a slow reader: answers queue meanwhile
					res, err := http.ReadResponse(br, nil)
					if err != nil {
						return fmt.Errorf("conn %d answer %d: %v", c, r, err)
					}
					got, err := io.ReadAll(res.Body)
					res.Body.Close()
					if err != nil || res.StatusCode != 200 {
						return fmt.Errorf("conn %d answer %d: %d, %v", c, r, res.StatusCode, err)
					}
					if len(res.TransferEncoding) > 0 {
						return fmt.Errorf("conn %d answer %d is chunked: nbio's chunked writer must never run", c, r)
					}
					if want := body(c, r); !bytes.Equal(got, want) {
						return fmt.Errorf("conn %d answer %d is not its own body (%d bytes, want %d)", c, r, len(got), len(want))
					}
				}
				return nil
			}()
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
