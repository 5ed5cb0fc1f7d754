// Benchmark mode of go-peer, for `npm run bench` (test/bench/sections/peers.ts): the grpc-js
// cells' workloads on grpc-go ALTS, both ends run through `alts-emulator run`.
//
//	go-peer server --bench ...   also serves bench.StreamBench (Pull: server streaming, Cpu:
//	                             the server's CPU time) and logs no line per call
//	go-peer bench --target HOST:PORT [--handshaker HOST:PORT] [--target-sa SA]... --config JSON
//
// bench runs every workload once, with the settings in --config (the bench's grpc section
// settings, same names), and prints one JSON object of figures named as the bench's metrics.
// What grpc-go cannot report (major GCs: Go's collector has no major/minor split) is absent.
// Failed calls are counted in "errors" (the first one's status in "firstError"), not fatal.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
)

// The streaming service of test/bench/lib/services.ts: the messages are raw bytes (no protobuf);
// a Pull request is u32le count, u32le size.
const (
	pullPath = "/bench.StreamBench/Pull"
	cpuPath  = "/bench.StreamBench/Cpu"
	// The same caps as services.ts's MAX_PULL_COUNT and MAX_PULL_SIZE.
	maxPullCount = 100000
	maxPullSize  = 1 << 20
	// The filler byte of every Pull message, as in services.ts.
	pullFill = 0x5a
)

// rawMessage is a message whose wire form is its bytes: grpc-go's proto codec calls Marshal and
// Unmarshal directly on types that have them.
type rawMessage struct{ b []byte }

func (m *rawMessage) Reset()                   { m.b = nil }
func (m *rawMessage) String() string           { return fmt.Sprintf("raw{%d bytes}", len(m.b)) }
func (*rawMessage) ProtoMessage()              {}
func (m *rawMessage) Marshal() ([]byte, error) { return m.b, nil }
func (m *rawMessage) Unmarshal(b []byte) error {
	m.b = append([]byte(nil), b...)
	return nil
}

// cpuMicros is this process's user + system CPU time so far, in µs (all goroutines).
func cpuMicros() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano()/1000 + ru.Stime.Nano()/1000
}

// ---- server side ----

func pullHandler(_ interface{}, stream grpc.ServerStream) error {
	req := new(rawMessage)
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	count, size := 0, 0
	if len(req.b) >= 8 {
		count = int(min32(binary.LittleEndian.Uint32(req.b[0:4]), maxPullCount))
		size = int(min32(binary.LittleEndian.Uint32(req.b[4:8]), maxPullSize))
	}
	msg := &rawMessage{b: make([]byte, size)}
	for i := range msg.b {
		msg.b[i] = pullFill
	}
	for i := 0; i < count; i++ {
		if err := stream.SendMsg(msg); err != nil {
			return err
		}
	}
	return nil
}

func min32(v, limit uint32) uint32 {
	if v > limit {
		return limit
	}
	return v
}

func cpuHandler(_ interface{}, _ context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	if err := dec(new(rawMessage)); err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(cpuMicros()))
	return &rawMessage{b: b}, nil
}

var streamBenchDesc = grpc.ServiceDesc{
	ServiceName: "bench.StreamBench",
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Cpu", Handler: cpuHandler}},
	Streams:     []grpc.StreamDesc{{StreamName: "Pull", Handler: pullHandler, ServerStreams: true}},
	Metadata:    "test/bench/lib/services.ts",
}

// ---- client side ----

// benchConfig carries the bench's grpc section settings (test/bench/sections/grpc.ts), in ms and bytes.
type benchConfig struct {
	WarmupMs               int   `json:"warmupMs"`
	EchoMs                 int   `json:"echoMs"`
	EchoPayloadBytes       int   `json:"echoPayloadBytes"`
	SequentialMs           int   `json:"sequentialMs"`
	SequentialPayloadBytes int   `json:"sequentialPayloadBytes"`
	StreamMs               int   `json:"streamMs"`
	StreamMessageBytes     int   `json:"streamMessageBytes"`
	StreamMessagesPerCall  int   `json:"streamMessagesPerCall"`
	TunedFlowControlWindow int32 `json:"tunedFlowControlWindow"`
	NewChannelCount        int   `json:"newChannelCount"`
	NewChannelMaxMs        int   `json:"newChannelMaxMs"`
	UnaryMs                int   `json:"unaryMs"`
	Inflight               int   `json:"inflight"`
}

type benchClient struct {
	target string
	opts   []grpc.DialOption
	cfg    benchConfig
	// Per-call deadline: generous, a loaded 2-core machine must not turn slowness into errors.
	callTimeout time.Duration

	mu         sync.Mutex
	errors     int
	firstError string
	figures    map[string]float64
}

func (c *benchClient) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors++
	if c.firstError == "" {
		c.firstError = err.Error()
	}
}

// closedLoop runs fn with `inflight` calls outstanding until d has passed; it returns the calls
// completed and the time taken.
func (c *benchClient) closedLoop(inflight int, d time.Duration, fn func() error) (int, time.Duration) {
	start := time.Now()
	deadline := start.Add(d)
	var mu sync.Mutex
	completed := 0
	var wg sync.WaitGroup
	for i := 0; i < inflight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := fn(); err != nil {
					c.fail(err)
					continue
				}
				mu.Lock()
				completed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return completed, time.Since(start)
}

func (c *benchClient) dial(extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.Dial(c.target, append(append([]grpc.DialOption(nil), c.opts...), extra...)...)
}

func (c *benchClient) echo(conn *grpc.ClientConn, description string) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.callTimeout)
	defer cancel()
	req := &BookingRequest{PatientID: "p", DoctorID: "d", Description: description}
	resp := new(BookingResponse)
	if err := conn.Invoke(ctx, methodPath, req, resp); err != nil {
		return err
	}
	if len(resp.Condition) != len(description) {
		return fmt.Errorf("bad echo: %d bytes for %d", len(resp.Condition), len(description))
	}
	return nil
}

func (c *benchClient) serverCpu(conn *grpc.ClientConn) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.callTimeout)
	defer cancel()
	resp := new(rawMessage)
	if err := conn.Invoke(ctx, cpuPath, &rawMessage{}, resp); err != nil {
		return 0, err
	}
	if len(resp.b) != 8 {
		return 0, fmt.Errorf("Cpu: %d bytes, want 8", len(resp.b))
	}
	return int64(binary.LittleEndian.Uint64(resp.b)), nil
}

// pull makes one Pull call and returns the bytes received.
func (c *benchClient) pull(conn *grpc.ClientConn) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.callTimeout)
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, pullPath)
	if err != nil {
		return 0, err
	}
	req := make([]byte, 8)
	binary.LittleEndian.PutUint32(req[0:4], uint32(c.cfg.StreamMessagesPerCall))
	binary.LittleEndian.PutUint32(req[4:8], uint32(c.cfg.StreamMessageBytes))
	if err := cs.SendMsg(&rawMessage{b: req}); err != nil {
		return 0, err
	}
	if err := cs.CloseSend(); err != nil {
		return 0, err
	}
	n := 0
	for {
		m := new(rawMessage)
		if err := cs.RecvMsg(m); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		n += len(m.b)
	}
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func percentile(sorted []float64, p float64) float64 {
	rank := int(float64(len(sorted))*p/100 + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// sequential echoes `size` bytes one call at a time: calls per second and latency percentiles (µs).
func (c *benchClient) sequential(conn *grpc.ClientConn, size int, d time.Duration) (perS, p50, p99 float64) {
	payload := description(0, size)
	c.closedLoop(1, ms(c.cfg.WarmupMs), func() error { return c.echo(conn, payload) })
	var latencies []float64
	n, elapsed := c.closedLoop(1, d, func() error {
		t := time.Now()
		err := c.echo(conn, payload)
		if err == nil {
			latencies = append(latencies, float64(time.Since(t).Nanoseconds())/1000)
		}
		return err
	})
	if len(latencies) == 0 {
		return 0, 0, 0
	}
	sort.Float64s(latencies)
	return float64(n) / elapsed.Seconds(), percentile(latencies, 50), percentile(latencies, 99)
}

// stream measures Pull on a connection of its own; prefix names the figures ("stream", "tunedStream").
func (c *benchClient) stream(prefix string, extra ...grpc.DialOption) error {
	conn, err := c.dial(extra...)
	if err != nil {
		return err
	}
	defer conn.Close()
	before, err := c.serverCpu(conn)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	warmBytes, bytes := 0, 0
	c.closedLoop(1, ms(c.cfg.WarmupMs), func() error {
		n, err := c.pull(conn)
		mu.Lock()
		warmBytes += n
		mu.Unlock()
		return err
	})
	cpu := cpuMicros()
	_, elapsed := c.closedLoop(1, ms(c.cfg.StreamMs), func() error {
		n, err := c.pull(conn)
		mu.Lock()
		bytes += n
		mu.Unlock()
		return err
	})
	clientUs := cpuMicros() - cpu
	after, err := c.serverCpu(conn)
	if err != nil {
		return err
	}
	if bytes == 0 {
		return nil
	}
	c.figures[prefix+"MBps"] = float64(bytes) / 1e6 / elapsed.Seconds()
	c.figures[prefix+"ClientCpuUsPerMB"] = float64(clientUs) / (float64(bytes) / 1e6)
	// As in the grpc-js cells: the server's counter spans warm-up and measurement.
	c.figures[prefix+"ServerCpuUsPerMB"] = float64(after-before) / (float64(warmBytes+bytes) / 1e6)
	return nil
}

// newChannel times a new connection (TCP + ALTS handshake + HTTP/2) and its first RPC, sequentially.
func (c *benchClient) newChannel() {
	var times []float64
	deadline := time.Now().Add(ms(c.cfg.NewChannelMaxMs))
	for len(times) < c.cfg.NewChannelCount && time.Now().Before(deadline) {
		t := time.Now()
		conn, err := c.dial()
		if err == nil {
			err = c.echo(conn, "x")
			conn.Close()
		}
		if err != nil {
			c.fail(err)
			continue
		}
		times = append(times, float64(time.Since(t).Nanoseconds())/1e6)
	}
	if len(times) > 0 {
		sort.Float64s(times)
		c.figures["newChannelMs"] = percentile(times, 50)
	}
}

// unary runs `inflight` concurrent echoes of `size` bytes: calls per second, and CPU per call
// (client: measured calls; server: all calls, warm-up included, as in the grpc-js cells).
func (c *benchClient) unary(conn *grpc.ClientConn, size int) (qps, clientUs, serverUs float64, err error) {
	payload := description(0, size)
	before, err := c.serverCpu(conn)
	if err != nil {
		return 0, 0, 0, err
	}
	call := func() error { return c.echo(conn, payload) }
	warm, _ := c.closedLoop(c.cfg.Inflight, ms(c.cfg.WarmupMs), call)
	cpu := cpuMicros()
	n, elapsed := c.closedLoop(c.cfg.Inflight, ms(c.cfg.UnaryMs), call)
	clientTotal := cpuMicros() - cpu
	after, err := c.serverCpu(conn)
	if err != nil || n == 0 {
		return 0, 0, 0, err
	}
	return float64(n) / elapsed.Seconds(), float64(clientTotal) / float64(n),
		float64(after-before) / float64(warm+n), nil
}

func (c *benchClient) run() error {
	conn, err := c.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if perS, _, _ := c.sequential(conn, c.cfg.EchoPayloadBytes, ms(c.cfg.EchoMs)); perS > 0 {
		c.figures["echo1MBMBps"] = perS * float64(c.cfg.EchoPayloadBytes) / 1e6
	}
	if perS, p50, p99 := c.sequential(conn, c.cfg.SequentialPayloadBytes, ms(c.cfg.SequentialMs)); perS > 0 {
		c.figures["seq100BPerS"] = perS
		c.figures["seqP50Us"] = p50
		c.figures["seqP99Us"] = p99
	}
	// "default": grpc-go's own flow control (64 KiB windows grown by BDP estimation); "tuned":
	// fixed windows of the size the OtBooking factory gives grpc-js (setting one turns BDP off).
	if err := c.stream("stream"); err != nil {
		return err
	}
	w := c.cfg.TunedFlowControlWindow
	if err := c.stream("tunedStream", grpc.WithInitialWindowSize(w), grpc.WithInitialConnWindowSize(w)); err != nil {
		return err
	}
	c.newChannel()
	for _, u := range []struct {
		metric string
		size   int
	}{{"unary1BQps", 1}, {"unary1KiBQps", 1024}} {
		qps, clientUs, serverUs, err := c.unary(conn, u.size)
		if err != nil {
			return err
		}
		if qps > 0 {
			c.figures[u.metric] = qps
		}
		if u.size == 1 && qps > 0 {
			c.figures["unaryClientCpuUs"] = clientUs
			c.figures["unaryServerCpuUs"] = serverUs
		}
	}
	return nil
}

func runBench(args []string) int {
	fs := flag.NewFlagSet("go-peer bench", flag.ContinueOnError)
	config := fs.String("config", "", "the workloads' settings, JSON (see test/bench/sections/peers.ts)")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline per call")
	target := fs.String("target", "", "server address host:port (a go-peer server --bench)")
	var targetSAs multiFlag
	fs.Var(&targetSAs, "target-sa", "expected server service account (repeatable)")
	handshaker := handshakerFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := &benchClient{target: *target, callTimeout: *timeout, figures: map[string]float64{}}
	if *target == "" || json.Unmarshal([]byte(*config), &c.cfg) != nil || c.cfg.Inflight < 1 ||
		c.cfg.TunedFlowControlWindow < 1 {
		fmt.Fprintln(os.Stderr, "go-peer bench: --target and a --config JSON with every setting (inflight >= 1) are required")
		return 2
	}
	c.opts = clientDialOptions(*handshaker, targetSAs)
	if err := c.run(); err != nil {
		c.fail(err)
	}
	out := map[string]interface{}{"errors": c.errors}
	for k, v := range c.figures {
		out[k] = v
	}
	if c.firstError != "" {
		out["firstError"] = c.firstError
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	return 0
}
