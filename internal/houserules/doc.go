// Package houserules holds the tests of house rules that span the whole
// module and that neither the compiler nor go vet enforces (see
// docs/architecture.md). It has no code of its own and nothing imports it.
package houserules
