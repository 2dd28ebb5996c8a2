package local

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one child of the control plane, in its own process group.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *logSink
	done chan struct{} // closed when the process has been waited for
	err  error         // Wait's result, valid after done
}

// startProcess runs bin with args and env (added to the current environment), sending its
// output to logs (each line prefixed with [name]) and keeping the last lines for errors.
func startProcess(name, bin string, args, env []string, logs io.Writer) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	sink := newLogSink(name, logs)
	cmd.Stdout, cmd.Stderr = sink, sink
	// Its own process group, so Stop can signal it and anything it starts; and killed if the
	// process that started it dies without calling Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: sink, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		sink.flush()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited is an error describing an unexpected exit, with the last lines of its output.
func (p *process) exited() error {
	return fmt.Errorf("%s exited unexpectedly (%v); last output:\n%s", p.name, p.err, p.log.tail())
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and waits for the exit.
func (p *process) stop(grace time.Duration) {
	began := time.Now()
	defer func() {
		p.log.note(fmt.Sprintf("(guardrail: stopped in %s)", time.Since(began).Round(time.Millisecond)))
	}()
	pgid := p.pid()
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	// Anything left in the group (the leader has exited or not) gets SIGKILL.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// logSink forwards a child's output line by line, prefixed, and keeps a tail of it.
type logSink struct {
	prefix string
	out    io.Writer

	mu      sync.Mutex
	partial []byte
	lines   []string // ring of the last maxTail lines
	next    int
}

const maxTail = 60

func newLogSink(name string, out io.Writer) *logSink {
	return &logSink{prefix: "[" + name + "] ", out: out}
}

func (s *logSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 64<<10 { // a very long line: cut it
		s.line(string(s.partial))
		s.partial = nil
	}
	return len(b), nil
}

func (s *logSink) line(l string) {
	if len(s.lines) < maxTail {
		s.lines = append(s.lines, l)
	} else {
		s.lines[s.next] = l
		s.next = (s.next + 1) % maxTail
	}
	if s.out != nil {
		fmt.Fprintf(s.out, "%s%s\n", s.prefix, l)
	}
}

// note adds a line of guardrail's own.
func (s *logSink) note(l string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.line(l)
}

func (s *logSink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		s.line(string(s.partial))
		s.partial = nil
	}
}

// tail is the last lines written, oldest first.
func (s *logSink) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ordered := append(append([]string{}, s.lines[s.next:]...), s.lines[:s.next]...)
	return strings.Join(ordered, "\n")
}
