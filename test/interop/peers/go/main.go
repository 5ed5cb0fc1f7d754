// go-peer: an OtBooking server and client on grpc-go's ALTS credentials
// (google.golang.org/grpc/credentials/alts), for the interop matrix.
//
//	go-peer server --listen HOST:PORT [--handshaker HOST:PORT] [--allowed SA]...
//	go-peer client --target HOST:PORT [--handshaker HOST:PORT] [--target-sa SA]...
//	               [--size N] [--calls K] [--timeout D]
//	go-peer bench ...   the benchmark's workloads (bench.go; the server needs --bench)
//
// Server: prints "READY <host:port>" on stdout once serving (port 0 picks a
// free port); logs one "call peer=<client sa> ..." line per RPC on stderr;
// with at least one --allowed, every RPC runs alts.ClientAuthorizationCheck
// (PERMISSION_DENIED "Client <sa> is not authorized"). getBookingInfo
// echoes description as condition, bookingDate "01-Jun-2024 11:30".
// SIGTERM/SIGINT stop it (exit 0).
//
// Client: K calls with an N-byte description, each checked for
// condition == description and the fixed bookingDate; prints
// "OK calls=K bytes=N peer=<server sa>" on stdout, or on failure
// "<STATUS_CODE_NAME>: <details>" on stderr and exits 1 (2 = usage,
// 3 = response mismatch, reported as "MISMATCH: ...").
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/alts"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

const (
	methodPath  = "/otbooking.OtBookingService/getBookingInfo"
	bookingDate = "01-Jun-2024 11:30"
	maxMsg      = 64 << 20
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// codeNames are the canonical (upper snake case) gRPC status code names.
var codeNames = []string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

func codeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE_%d", c)
}

func logf(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-peer: "+format+"\n", a...)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-peer server|client [flags] (-h for flags)")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		os.Exit(runServer(os.Args[2:]))
	case "client":
		os.Exit(runClient(os.Args[2:]))
	case "bench":
		os.Exit(runBench(os.Args[2:]))
	case "version":
		fmt.Printf("grpc-go %s\n", grpc.Version)
	default:
		fmt.Fprintf(os.Stderr, "go-peer: unknown role %q (want server or client)\n", os.Args[1])
		os.Exit(2)
	}
}

// handshakerFlag adds --handshaker, the ALTS handshaker service address, to fs.
func handshakerFlag(fs *flag.FlagSet) *string {
	return fs.String("handshaker", "", "ALTS handshaker service address (default: the library's, metadata.google.internal.:8080)")
}

// clientDialOptions are a client's: ALTS (expecting one of targetSAs, if any) and large messages.
func clientDialOptions(handshaker string, targetSAs []string) []grpc.DialOption {
	creds := alts.NewClientCreds(&alts.ClientOptions{
		TargetServiceAccounts:    targetSAs,
		HandshakerServiceAddress: handshaker,
	})
	return []grpc.DialOption{grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg))}
}

// ---- server ----

type bookingServer struct {
	allowed []string
	// quiet: no log line per call (bench mode: logging would be part of what is measured).
	quiet bool
}

func (s *bookingServer) getBookingInfo(ctx context.Context, req *BookingRequest) (*BookingResponse, error) {
	if !s.quiet {
		if ai, err := alts.AuthInfoFromContext(ctx); err != nil {
			logf("call without ALTS auth info: %v", err)
		} else {
			logf("call peer=%s local=%s record_protocol=%s security_level=%s bytes=%d",
				ai.PeerServiceAccount(), ai.LocalServiceAccount(), ai.RecordProtocol(),
				ai.SecurityLevel(), len(req.Description))
		}
	}
	if len(s.allowed) > 0 {
		if err := alts.ClientAuthorizationCheck(ctx, s.allowed); err != nil {
			logf("denied: %v", err)
			return nil, err
		}
	}
	return &BookingResponse{BookingDate: bookingDate, Condition: req.Description}, nil
}

func getBookingInfoHandler(srv interface{}, ctx context.Context, dec func(interface{}) error, interceptor grpc.UnaryServerInterceptor) (interface{}, error) {
	in := new(BookingRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	s := srv.(*bookingServer)
	if interceptor == nil {
		return s.getBookingInfo(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: methodPath}
	return interceptor(ctx, in, info, func(ctx context.Context, req interface{}) (interface{}, error) {
		return s.getBookingInfo(ctx, req.(*BookingRequest))
	})
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "otbooking.OtBookingService",
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "getBookingInfo", Handler: getBookingInfoHandler}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    "otbooking/ot_booking.proto",
}

func runServer(args []string) int {
	fs := flag.NewFlagSet("go-peer server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address host:port (port 0 = pick a free port)")
	handshaker := handshakerFlag(fs)
	var allowed multiFlag
	fs.Var(&allowed, "allowed", "client service account allowed to call (repeatable; none = no authorization check)")
	bench := fs.Bool("bench", false, "also serve bench.StreamBench (go-peer bench's streaming and CPU calls) and log no line per call")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "UNAVAILABLE: listen %s: %v\n", *listen, err)
		return 1
	}
	creds := alts.NewServerCreds(&alts.ServerOptions{HandshakerServiceAddress: *handshaker})
	srv := grpc.NewServer(grpc.Creds(creds), grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))
	srv.RegisterService(&serviceDesc, &bookingServer{allowed: allowed, quiet: *bench})
	if *bench {
		srv.RegisterService(&streamBenchDesc, nil)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sig
		logf("%v: stopping", s)
		srv.Stop()
	}()
	logf("grpc-go %s server handshaker=%q allowed=%v", grpc.Version, *handshaker, []string(allowed))
	fmt.Printf("READY %s\n", lis.Addr().String())
	os.Stdout.Sync()
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "UNAVAILABLE: serve: %v\n", err)
		return 1
	}
	return 0
}

// ---- client ----

// description returns an n-byte printable payload that differs per call.
func description(call, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	b.Grow(n + 32)
	b.WriteString(fmt.Sprintf("call-%d:", call))
	for i := 0; b.Len() < n; i++ {
		b.WriteByte(alphabet[(i*7+call)%len(alphabet)])
	}
	return b.String()[:n]
}

func runClient(args []string) int {
	fs := flag.NewFlagSet("go-peer client", flag.ContinueOnError)
	target := fs.String("target", "", "server address host:port")
	handshaker := handshakerFlag(fs)
	var targetSAs multiFlag
	fs.Var(&targetSAs, "target-sa", "expected server service account (repeatable; sent as target_identities, enforced by the handshaker)")
	size := fs.Int("size", 70*1024, "description size in bytes")
	calls := fs.Int("calls", 3, "number of getBookingInfo calls")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline per call")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *target == "" || *calls < 1 || *size < 0 {
		fmt.Fprintln(os.Stderr, "go-peer client: --target is required, --calls >= 1, --size >= 0")
		return 2
	}
	conn, err := grpc.Dial(*target, clientDialOptions(*handshaker, targetSAs)...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "UNAVAILABLE: dial %s: %v\n", *target, err)
		return 1
	}
	defer conn.Close()
	logf("grpc-go %s client target=%s handshaker=%q target_sa=%v size=%d calls=%d",
		grpc.Version, *target, *handshaker, []string(targetSAs), *size, *calls)

	peerSA := ""
	for i := 0; i < *calls; i++ {
		req := &BookingRequest{PatientID: "patient-1", DoctorID: "doctor-2", Description: description(i, *size)}
		resp := new(BookingResponse)
		var p peer.Peer
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		err := conn.Invoke(ctx, methodPath, req, resp, grpc.Peer(&p))
		cancel()
		if err != nil {
			st := status.Convert(err)
			fmt.Fprintf(os.Stderr, "%s: %s\n", codeName(st.Code()), st.Message())
			return 1
		}
		if resp.Condition != req.Description {
			fmt.Fprintf(os.Stderr, "MISMATCH: call %d: condition (%d bytes) != description (%d bytes)\n",
				i, len(resp.Condition), len(req.Description))
			return 3
		}
		if resp.BookingDate != bookingDate {
			fmt.Fprintf(os.Stderr, "MISMATCH: call %d: bookingDate %q, want %q\n", i, resp.BookingDate, bookingDate)
			return 3
		}
		ai, err := alts.AuthInfoFromPeer(&p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "MISMATCH: call %d: %v\n", i, err)
			return 3
		}
		if i == 0 {
			peerSA = ai.PeerServiceAccount()
			logf("server peer=%s local=%s record_protocol=%s security_level=%s peer_rpc_versions=%v",
				ai.PeerServiceAccount(), ai.LocalServiceAccount(), ai.RecordProtocol(),
				ai.SecurityLevel(), ai.PeerRPCVersions())
		} else if ai.PeerServiceAccount() != peerSA {
			fmt.Fprintf(os.Stderr, "MISMATCH: call %d: server service account changed from %q to %q\n", i, peerSA, ai.PeerServiceAccount())
			return 3
		}
	}
	fmt.Printf("OK calls=%d bytes=%d peer=%s\n", *calls, *size, peerSA)
	return 0
}
