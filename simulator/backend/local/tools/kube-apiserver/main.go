// Command guardrail-kube-apiserver is a real kube-apiserver (k8s.io/kubernetes v1.36.3) with
// an embedded etcd on loopback, plus the kube-controller-manager as a subcommand, so the
// guardrail local backend can run a real control plane without Docker, kind or downloads.
//
//	guardrail-kube-apiserver [--etcd-data-dir DIR] [--etcd-client-port N] [--etcd-peer-port N] -- <kube-apiserver flags>
//	guardrail-kube-apiserver controller-manager <kube-controller-manager flags>
//
// Unless the kube-apiserver flags already name --etcd-servers, the embedded etcd's client
// URL is passed as --etcd-servers. A port of 0 picks a free loopback port.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "controller-manager" {
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(os.Args[2:])
		os.Exit(cli.Run(cmd))
	}
	os.Exit(runAPIServer(os.Args[1:]))
}

func runAPIServer(args []string) int {
	fs := flag.NewFlagSet("guardrail-kube-apiserver", flag.ContinueOnError)
	dataDir := fs.String("etcd-data-dir", "", "embedded etcd data directory (required)")
	clientPort := fs.Int("etcd-client-port", 0, "embedded etcd client port on 127.0.0.1 (0: a free port)")
	peerPort := fs.Int("etcd-peer-port", 0, "embedded etcd peer port on 127.0.0.1 (0: a free port)")
	logLevel := fs.String("etcd-log-level", "error", "embedded etcd log level (debug, info, warn, error)")
	noFsync := fs.Bool("etcd-unsafe-no-fsync", true, "skip fsync in etcd: the data is throwaway")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: guardrail-kube-apiserver [etcd flags] -- <kube-apiserver flags>")
		fmt.Fprintln(fs.Output(), "       guardrail-kube-apiserver controller-manager <kube-controller-manager flags>")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "guardrail-kube-apiserver: --etcd-data-dir is required")
		return 2
	}
	rest := fs.Args()

	cfg := embed.NewConfig()
	cfg.Name = "guardrail"
	cfg.Dir = *dataDir
	cfg.LogLevel = *logLevel
	cfg.LogOutputs = []string{"stderr"}
	cfg.UnsafeNoFsync = *noFsync
	cu, err := loopbackURL(*clientPort)
	if err != nil {
		return fail(err)
	}
	pu, err := loopbackURL(*peerPort)
	if err != nil {
		return fail(err)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fail(fmt.Errorf("start etcd: %w", err))
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return fail(fmt.Errorf("etcd: %w", err))
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		return fail(fmt.Errorf("etcd did not become ready within 60s"))
	}
	go func() {
		if err := <-e.Err(); err != nil {
			fmt.Fprintln(os.Stderr, "guardrail-kube-apiserver: etcd:", err)
			os.Exit(1)
		}
	}()

	if !hasFlag(rest, "etcd-servers") {
		rest = append([]string{"--etcd-servers=" + cu.String()}, rest...)
	}
	cmd := apiserver.NewAPIServerCommand()
	cmd.SetArgs(rest)
	return cli.Run(cmd)
}

// loopbackURL is http://127.0.0.1:port, with a free port when port is 0.
func loopbackURL(port int) (url.URL, error) {
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return url.URL{}, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}, nil
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "guardrail-kube-apiserver:", err)
	return 1
}
