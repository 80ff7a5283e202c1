//go:build !windows

package config

// keytabRequired: elsewhere the Negotiate acceptor is gokrb5, which needs the
// service's keys from a keytab.
const keytabRequired = true
