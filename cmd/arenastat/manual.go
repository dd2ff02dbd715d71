package main

import (
	_ "embed"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"strings"
	"sync"
)

// docSource is doc.go, whose package comment is arenastat's manual: the
// one text that both go doc and arenastat -help show.
//
//go:embed doc.go
var docSource string

// manual renders doc.go's package comment as a manual page: its first
// paragraph becomes NAME ("arenastat - prints what ..."), and each
// heading a section in capitals, its text indented four spaces.
var manual = sync.OnceValue(func() string {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", docSource, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil || f.Doc == nil {
		panic("arenastat: doc.go has no package comment to print") // doc_test.go rules this out
	}
	return renderManual(f.Doc)
})

// renderManual lays out a package comment as a manual page.
func renderManual(doc *ast.CommentGroup) string {
	var p comment.Parser
	d := p.Parse(doc.Text())
	pr := &comment.Printer{TextPrefix: "    ", TextCodePrefix: "    ", TextWidth: 72}
	var out strings.Builder
	section := func(title string, blocks []comment.Block) {
		if len(blocks) == 0 {
			return
		}
		if out.Len() > 0 {
			out.WriteString("\n")
		}
		out.WriteString(title + "\n")
		out.Write(pr.Text(&comment.Doc{Content: blocks}))
	}
	// NAME is the first paragraph, "Arenastat prints ..." read as
	// "arenastat - prints ..."; the paragraphs after it and before the
	// first heading speak of the comment itself and are left out.
	var blocks []comment.Block
	title := "NAME"
	for i, b := range d.Content {
		if h, ok := b.(*comment.Heading); ok {
			section(title, blocks)
			title, blocks = strings.ToUpper(plain(h.Text)), nil
			continue
		}
		if title != "NAME" {
			blocks = append(blocks, b)
			continue
		}
		if para, ok := b.(*comment.Paragraph); ok && i == 0 {
			name := &comment.Paragraph{Text: append([]comment.Text(nil), para.Text...)}
			if s, ok := name.Text[0].(comment.Plain); ok {
				name.Text[0] = comment.Plain("arenastat - " + strings.TrimPrefix(string(s), "Arenastat "))
			}
			blocks = append(blocks, name)
		}
	}
	section(title, blocks)
	return out.String()
}

// plain returns the text of a heading.
func plain(ts []comment.Text) string {
	var s strings.Builder
	for _, t := range ts {
		if p, ok := t.(comment.Plain); ok {
			s.WriteString(string(p))
		}
	}
	return s.String()
}
