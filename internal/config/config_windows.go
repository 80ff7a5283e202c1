package config

// keytabRequired: on Windows the Negotiate acceptor is SSPI under the machine
// account, which needs no keytab.
const keytabRequired = false
