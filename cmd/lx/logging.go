package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// Logs never grow because a guest wants them to. Many lines are a guest's
// doing (an unknown syscall number, a refused clone, a malformed call), and
// a guest can repeat them as fast as it can call. So every component's
// logger lets each message through at most logBurst times per logTick and
// counts the rest, reporting them in one line per message at the next tick
// (zap's sampler, keyed by level and message: the messages are lx's own
// constants, so there are few); and its sink stops at logCap bytes with a
// last line saying so (the broker rotates a log past that when it starts
// the component again). A component's log thus grows by at most about
// logBurst lines a minute per message, and never past logCap per
// incarnation.
const (
	logTick  = time.Minute
	logBurst = 20
	logCap   = 64 << 20
)

// logger is zap, JSON to stderr (a component's log file), human-readable
// when stderr is a terminal, sampled and capped as above.
func logger(name string) *zap.Logger {
	var enc zapcore.Encoder
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	if _, err := unix.IoctlGetTermios(2, unix.TCGETS); err == nil {
		enc = zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
		level.SetLevel(zapcore.DebugLevel)
	} else {
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	}
	sink := &cappedSink{w: os.Stderr, left: logCap}
	drops := &dropCounter{counts: map[string]int{}}
	core := zapcore.NewSamplerWithOptions(zapcore.NewCore(enc, zapcore.Lock(sink), level), logTick, logBurst, 0,
		zapcore.SamplerHook(drops.hook))
	l := zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel)).Named(name).With(zap.Int("pid", os.Getpid()))
	go drops.report(l)
	return l
}

// dropCounter counts the lines the sampler dropped, by message.
type dropCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (d *dropCounter) hook(e zapcore.Entry, dec zapcore.SamplingDecision) {
	if dec&zapcore.LogDropped == 0 {
		return
	}
	d.mu.Lock()
	if _, ok := d.counts[e.Message]; ok || len(d.counts) < 256 {
		d.counts[e.Message]++
	}
	d.mu.Unlock()
}

// report logs, each tick, how many lines of each message were dropped.
func (d *dropCounter) report(l *zap.Logger) {
	for range time.Tick(logTick) {
		d.mu.Lock()
		counts := d.counts
		d.counts = map[string]int{}
		d.mu.Unlock()
		for msg, n := range counts {
			l.Warn("log lines dropped (more than the rate a message may log)", zap.String("message", msg), zap.Int("dropped", n),
				zap.Duration("per", logTick), zap.Int("allowed", logBurst))
		}
	}
}

// cappedSink writes to w until left bytes are used, then one last line.
type cappedSink struct {
	w    *os.File
	left int
	done bool
}

func (s *cappedSink) Write(b []byte) (int, error) {
	if s.done {
		return len(b), nil
	}
	if len(b) > s.left {
		s.done = true
		fmt.Fprintf(s.w, "{\"level\":\"warn\",\"msg\":\"log capped at %d bytes: nothing more is written until this component restarts\"}\n", logCap)
		return len(b), nil
	}
	s.left -= len(b)
	return s.w.Write(b)
}

func (s *cappedSink) Sync() error { return nil }
