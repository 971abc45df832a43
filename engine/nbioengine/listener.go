package nbioengine

import (
	"net"
	"sync"
)

// listener feeds nbio's accept loop. It caps open connections like the
// net/http engine (connections over the cap wait in the kernel's accept
// queue; nbio itself would close them), returns the *net.TCPConn nbio needs
// to take over the file descriptor, and, once stopped, blocks Accept until
// Close instead of failing at once (nbio's loop retries a failing Accept until
// its engine is stopped, which would spin).
type listener struct {
	net.Listener
	sem       chan struct{} // one slot per open connection; released by OnClose
	stop      chan struct{}
	closed    chan struct{}
	stopOnce  sync.Once
	closeOnce sync.Once
}

func newListener(ln net.Listener, maxConns int) *listener {
	return &listener{
		Listener: ln,
		sem:      make(chan struct{}, maxConns),
		stop:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

// Accept waits for a free slot, then for a connection.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.stop:
		<-l.closed
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.release()
		select {
		case <-l.stop:
			<-l.closed
			return nil, net.ErrClosed
		default:
			return nil, err
		}
	}
	return c, nil
}

// release frees the slot of a closed connection.
func (l *listener) release() {
	select {
	case <-l.sem:
	default:
	}
}

// stopAccepting closes the socket: new connections are refused while open
// ones keep being served.
func (l *listener) stopAccepting() {
	l.stopOnce.Do(func() {
		close(l.stop)
		l.Listener.Close()
	})
}

// Close stops accepting and lets nbio's accept loop end.
func (l *listener) Close() error {
	l.stopAccepting()
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}
