// go-app is a tiny program that exists only to be put into Palisade's test
// images: it links golang.org/x/net and golang.org/x/text so the binary carries
// real module dependency build info (see `go version -m go-app`).
package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/text/unicode/norm"
)

func main() {
	input := "<html><body><a href=\"https://example.invalid/\">caf\u0065\u0301</a></body></html>"
	if len(os.Args) > 1 {
		input = strings.Join(os.Args[1:], " ")
	}
	doc, err := html.Parse(strings.NewReader(input))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-app:", err)
		os.Exit(1)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			fmt.Println(norm.NFC.String(n.Data))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}
