package webauth

import (
	"context"
	"testing"
)

func TestUserContextAndRoles(t *testing.T) {
	if _, ok := UserFrom(context.Background()); ok {
		t.Fatal("a bare context carries no user")
	}
	ctx := WithUser(context.Background(), User{Subject: "s", Name: "Ann", Method: "oidc", Role: Viewer})
	u, ok := UserFrom(ctx)
	if !ok || u.Name != "Ann" || u.Role != Viewer {
		t.Fatalf("UserFrom = %+v, %v", u, ok)
	}
	if Viewer.CanAct() || !Operator.CanAct() {
		t.Fatal("only operators act")
	}
	if Role("admin").Valid() || !Viewer.Valid() || !Operator.Valid() {
		t.Fatal("Valid accepts exactly viewer and operator")
	}
}
