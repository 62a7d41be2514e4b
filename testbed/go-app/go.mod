module palisade.test/testbed/go-app

go 1.19

// The versions are rewritten by build-images.sh (`go mod edit -require`) to the
// upstream versions of Debian's golang-golang-x-{net,text}-dev packages, whose
// sources are copied into a throw-away vendor/ directory at build time.
require (
	golang.org/x/net v0.7.0
	golang.org/x/text v0.7.0
)
