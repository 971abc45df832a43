package loadgen_test

import (
	"fmt"

	"github.com/hotpath-dev/hotpath/loadgen"
)

func ExampleParseHeader() {
	h, err := loadgen.ParseHeader("Content-Type: application/json")
	fmt.Printf("%q %q %v\n", h.Name, h.Value, err)
	_, err = loadgen.ParseHeader("no colon here")
	fmt.Println(err)
	// Output:
	// "Content-Type" "application/json" <nil>
	// header "no colon here": want "Name: value"
}

func ExampleConfig_Validate() {
	err := loadgen.Config{URL: "http://127.0.0.1:8080/time", Rate: -1}.Validate()
	fmt.Println(err)
	// Output:
	// invalid load test: rate must be > 0 requests/s, got -1
}
