package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// varsPath is where expvar serves its variables, and so where
// expvarpub's snapshot is found.
const varsPath = "/debug/vars"

// A target is what watch reads: the URL of a snapshot, and the process
// behind it when the command line named one (0 otherwise).
type target struct {
	url string
	pid int
}

// resolveTarget turns watch's operand into a URL: a URL as it is (its
// path /debug/vars when it has none), HOST:PORT and :PORT (localhost) as
// http://HOST:PORT/debug/vars, and a process ID as the first of the
// process's listening TCP ports that serves a snapshot there. Any other
// operand is a usage error; a process that does not exist or serves no
// snapshot is an error that says so.
func resolveTarget(arg string, client *http.Client) (target, error) {
	if pid, err := strconv.Atoi(arg); err == nil {
		if pid <= 0 {
			return target{}, usagef("watch: %q is not a process ID", arg)
		}
		u, err := findEndpoint(pid, client)
		return target{u, pid}, err
	}
	u, err := targetURL(arg)
	if err != nil {
		if strings.Contains(arg, "://") {
			return target{}, usagef("watch: %v", err)
		}
		return target{}, usagef("watch: %q is not a URL, HOST:PORT, :PORT or process ID", arg)
	}
	return target{url: u}, nil
}

// targetURL turns a URL, HOST:PORT or :PORT into the URL of a snapshot,
// as resolveTarget does.
func targetURL(arg string) (string, error) {
	if strings.Contains(arg, "://") {
		u, err := url.Parse(arg)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("%q is not a URL", arg)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = varsPath
		}
		return u.String(), nil
	}
	host, port, err := net.SplitHostPort(arg)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
		return "", fmt.Errorf("%q is not a URL, HOST:PORT or :PORT", arg)
	}
	if host == "" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + varsPath, nil
}

// findEndpoint returns the URL at which process pid serves its snapshot:
// it lists the TCP ports the process listens on (listeners) and asks
// each, lowest first, for /debug/vars, with a short timeout. A wildcard
// address is asked on the loopback interface.
func findEndpoint(pid int, client *http.Client) (string, error) {
	addrs, err := listeners(pid)
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return "", fmt.Errorf("watch PID: %w: give the URL, HOST:PORT or :PORT instead", err)
		}
		return "", procError(pid, err)
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("process %d listens on no TCP port: does it serve %s (expvarpub.Publish and an HTTP server)?", pid, varsPath)
	}
	probe := *client
	probe.Timeout = time.Second
	var tried []string
	for _, a := range addrs {
		ip := a.Addr()
		switch {
		case ip.IsUnspecified() && ip.Is4():
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		case ip.IsUnspecified():
			ip = netip.IPv6Loopback()
		}
		u := "http://" + netip.AddrPortFrom(ip, a.Port()).String() + varsPath
		if _, err := fetch(&probe, u); err != nil {
			tried = append(tried, err.Error())
			continue
		}
		return u, nil
	}
	return "", fmt.Errorf("process %d serves no mmarena snapshot on any of its %d listening port(s): %s",
		pid, len(addrs), strings.Join(tried, "; "))
}
