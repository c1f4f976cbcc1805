package check

// PostgresSpec is the startup message of a PostgreSQL probe. No password
// is ever sent: the probe stops at the server's authentication request.
type PostgresSpec struct {
	// User is the user name of the startup message; required (the
	// controller applies the API's default).
	User string
	// Database is the database of the startup message; empty leaves it
	// out, and the server then takes the user name, as libpq does.
	Database string
}
