package stripetest

import (
	"os"
	"strings"
	"testing"
)

// .ci/run installs the stripe-mock version the tests name.
func TestCIInstallsThisVersion(t *testing.T) {
	b, err := os.ReadFile("../../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "go install github.com/stripe/stripe-mock@"+Version+"\n") {
		t.Errorf(".ci/run does not install stripe-mock %s", Version)
	}
}
