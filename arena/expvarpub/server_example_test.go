package expvarpub_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	_ "net/http/pprof" // serves /debug/pprof/, the mmarena.sampled profile among them
	"strings"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/expvarpub"
	"github.com/mmarena/mmarena/arena/hardened"
)

// A service with everything on: one memory budget for the Go heap and
// the arenas, a pooled arena per request with one allocation in a
// thousand sampled, Catch around the handlers, and the arenas published
// beside net/http/pprof. httptest stands in for http.ListenAndServe.
func Example_server() {
	// The Go heap and the arenas share 1 GiB, and arenas alone may hold
	// 768 MiB: past that an allocation fails with arena.ErrLimit. In a
	// container, derive both from arena.CgroupMemoryMax().
	arena.SetMemoryBudget(1 << 30)
	arena.SetArenaCap(768 << 20)
	defer arena.SetMemoryBudget(0)
	defer arena.SetArenaCap(0)

	pool, err := arena.NewPool(&arena.PoolOptions{
		Arena: &arena.Options{Name: "request", Sample: &hardened.Options{Every: 1000}},
	})
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/sum", func(w http.ResponseWriter, r *http.Request) {
		a, err := pool.Get()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer pool.Put(a) // every pointer into a dies here
		var nums []int64
		for i := range int64(100) {
			if nums, err = arena.Append(a, nums, i); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		var sum int64
		for _, n := range nums {
			sum += n
		}
		fmt.Fprintln(w, sum)
	})
	expvarpub.Publish()
	mux.Handle("/debug/", http.DefaultServeMux) // /debug/pprof/ and /debug/vars

	srv := httptest.NewServer(expvarpub.Catch(mux, nil)) // nil: log with slog.Default()
	defer srv.Close()

	get := func(path string) string {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		line, _ := bufio.NewReader(res.Body).ReadString('\n')
		return fmt.Sprint(res.StatusCode, " ", strings.TrimSpace(line))
	}
	fmt.Println(get("/sum"))
	fmt.Println(strings.Fields(get("/debug/pprof/mmarena.sampled?debug=1"))[:3])
	fmt.Println(get("/debug/vars")[:5])
	// Output:
	// 200 4950
	// [200 mmarena.sampled profile:]
	// 200 {
}
