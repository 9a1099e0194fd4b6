package distro

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"lx/lxbroker/proto"
)

// progress is the one display of import and export: bytes of the
// uncompressed tar stream, their rate and, where the end is knowable, how
// far along and when done. It draws on out only when out is a terminal,
// and is quiet otherwise (a log, a pipe, a CI run).
type progress struct {
	bar     *progressbar.ProgressBar // nil: quiet
	done    atomic.Int64             // compressed bytes read, for an import's estimate
	total   int64                    // the compressed size, 0 if unknown
	verb    string
	size    int64 // of the tar stream, -1 if unknown
	n       int64 // tar bytes so far
	last    time.Time
	started time.Time
}

// newProgress makes the display for verb ("importing x") on out, over a
// tar stream of about size() bytes (size nil or -1: unknown), which it
// asks only when it draws: on a terminal.
func newProgress(out *os.File, verb string, sizeOf func() int64) *progress {
	p := &progress{verb: verb, size: -1, started: time.Now()}
	if out == nil || !proto.IsTerminal(int(out.Fd())) {
		return p
	}
	if sizeOf != nil {
		p.size = sizeOf()
	}
	size := p.size
	p.bar = progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription(verb),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(out) }),
		progressbar.OptionSetPredictTime(size > 0),
		progressbar.OptionUseIECUnits(true),
	)
	return p
}

// Write counts n bytes of the tar stream.
func (p *progress) Write(b []byte) (int, error) {
	if p.bar == nil {
		return len(b), nil
	}
	p.bar.Add64(int64(len(b)))
	p.n += int64(len(b))
	if p.size < 0 && time.Since(p.last) > 200*time.Millisecond {
		// An import's end is known only in compressed bytes (if at all):
		// say the tar bytes so far, and how far along the compressed
		// ones are, and when that makes it done.
		p.last = time.Now()
		desc := fmt.Sprintf("%s %.1f MiB", p.verb, float64(p.n)/(1<<20))
		if done := p.done.Load(); p.total > 0 && done > 0 {
			frac := float64(done) / float64(p.total)
			eta := time.Duration(float64(time.Since(p.started)) * (1 - frac) / frac).Round(time.Second)
			desc += fmt.Sprintf(", %.0f%% of the file, %s left", 100*frac, eta)
		}
		p.bar.Describe(desc)
	}
	return len(b), nil
}

// source wraps an import's compressed input, whose size (if known) and
// position give the estimate.
func (p *progress) source(r io.Reader, size int64) io.Reader {
	p.total = size
	return &counted{r: r, n: &p.done}
}

// finish ends the display.
func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Describe(p.verb)
		p.bar.Finish()
	}
}

// counted counts the bytes read through it.
type counted struct {
	r io.Reader
	n *atomic.Int64
}

func (c *counted) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
