//! Who may use the web UI, and how a browser stays logged in.
//!
//! The login flow:
//!
//! 1. [`limit`] is asked first: an address or user name with too many recent failures is
//!    refused without asking PAM, so a password cannot be guessed fast and PAM's own failure
//!    delay cannot be used to tie up the server.
//! 2. [`pam`] checks the password with the host's Linux-PAM stack (the same rules as a console
//!    login), then asks PAM whether the account may log in at all (expired, locked…).
//! 3. [`account`] decides who is an auditor: membership of a configured group, read from the
//!    system's user database, so access is granted with the usual tools (`usermod -aG`).
//! 4. [`logins`] makes the login: a random token sent once in an HttpOnly cookie. The table
//!    keeps only the token's blake3 hash, so a dump of the server's memory cannot be replayed
//!    as cookies. Each login also has a CSRF token that state-changing requests must echo.

pub mod account;
pub mod limit;
pub mod logins;
pub mod pam;
