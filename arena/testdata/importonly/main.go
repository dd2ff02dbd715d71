// Command importonly is a program that imports arena and nothing else of
// mmarena's, for TestNoNetHTTP: its dependencies are what every user of
// the library pays for.
package main

import (
	"fmt"

	"github.com/mmarena/mmarena/arena"
)

func main() {
	b, err := arena.NewBump(nil)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	fmt.Println(len(arena.TakeSnapshot().Arenas))
}
