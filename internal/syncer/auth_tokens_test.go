package syncer

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/galmirror/galmirror/internal/entra"
)

// countingCred is an azcore credential that issues a new token per call.
type countingCred struct{ calls int }

func (c *countingCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls++
	return azcore.AccessToken{Token: fmt.Sprintf("t%d", c.calls), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// The run reuses a token for tokenReuse instead of asking the credential
// per request, and a Refresh after a 401 asks again at once.
func TestTokensReuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cred := &countingCred{}
		ts := &tokens{src: entra.NewTokenSource(cred, entra.Endpoints{GraphRoot: "https://graph.example"})}
		ctx := context.Background()
		for range 100 {
			if tok, err := ts.Token(ctx); err != nil || tok != "t1" {
				t.Fatalf("Token = %q, %v", tok, err)
			}
		}
		if cred.calls != 1 {
			t.Fatalf("credential asked %d times for 100 tokens within %s", cred.calls, tokenReuse)
		}
		if tok, _ := ts.Refresh(ctx, "t1"); tok != "t2" {
			t.Fatalf("Refresh = %q, want a new token", tok)
		}
		// A Refresh for an older token than the one held keeps it.
		if tok, _ := ts.Refresh(ctx, "t1"); tok != "t2" || cred.calls != 2 {
			t.Fatalf("Refresh of a stale token = %q after %d calls", tok, cred.calls)
		}
		time.Sleep(tokenReuse + time.Second)
		if tok, _ := ts.Token(ctx); tok != "t3" {
			t.Fatalf("after %s Token = %q, want a fresh one", tokenReuse, tok)
		}
	})
}
