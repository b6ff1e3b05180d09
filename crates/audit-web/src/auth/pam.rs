//! Password checks through the host's Linux-PAM stack.
//!
//! libpam is opened at run time with libloading ("libpam.so.0"), so building needs no
//! libpam-dev (which only adds the libpam.so symlink and headers). The handful of constants
//! and structs used below are Linux-PAM's ABI (security/_pam_types.h, pam_appl.h).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::OnceLock;

use zeroize::{Zeroize, Zeroizing};

const LIBPAM: &str = "libpam.so.0";

const PAM_SUCCESS: c_int = 0;
const PAM_PERM_DENIED: c_int = 6;
const PAM_AUTH_ERR: c_int = 7;
const PAM_CRED_INSUFFICIENT: c_int = 8;
const PAM_USER_UNKNOWN: c_int = 10;
const PAM_MAXTRIES: c_int = 11;
const PAM_NEW_AUTHTOK_REQD: c_int = 12;
const PAM_ACCT_EXPIRED: c_int = 13;
const PAM_CONV_ERR: c_int = 19;
const PAM_AUTHTOK_EXPIRED: c_int = 27;

/// No messages for the user: there is no terminal to show them on.
const PAM_SILENT: c_int = 0x8000;
/// Refuse an empty password even where the stack says `nullok` (Debian's common-auth does):
/// an account without a password must not be an open door to the audit records.
const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x1;

const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
/// Linux-PAM never sends more messages at once.
const PAM_MAX_NUM_MSG: c_int = 32;

const MAX_USER: usize = 256;
const MAX_PASSWORD: usize = 4096;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(
    c_int,
    *mut *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

type PamStart =
    unsafe extern "C" fn(*const c_char, *const c_char, *const PamConv, *mut *mut c_void) -> c_int;
type PamFlagsFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type PamEnd = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type PamStrerror = unsafe extern "C" fn(*mut c_void, c_int) -> *const c_char;

/// Why a password check did not let the user in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PamError {
    /// libpam cannot be loaded, or lacks a function: the server cannot check passwords.
    #[error("cannot load Linux-PAM ({LIBPAM}): {0}")]
    Unavailable(String),
    /// The user or the password is wrong. Which one is never said, so user names cannot be
    /// probed.
    #[error("wrong user or password")]
    WrongPassword,
    /// The password was right but the account may not log in (expired, password change
    /// required, denied by policy); names PAM's reason.
    #[error("account refused by PAM: {0}")]
    Refused(String),
    /// PAM itself failed (bad configuration, a module error, out of memory…).
    #[error("PAM failed: {0}")]
    Failed(String),
}

/// The libpam functions; the library is kept loaded for the life of the process.
struct Pam {
    start: PamStart,
    authenticate: PamFlagsFn,
    acct_mgmt: PamFlagsFn,
    end: PamEnd,
    strerror: PamStrerror,
    _lib: libloading::Library,
}

impl Pam {
    fn load() -> Result<Pam, String> {
        // SAFETY: loading libpam runs its ELF initialisers, which only set up its own state.
        let lib = unsafe { libloading::Library::new(LIBPAM) }.map_err(|e| e.to_string())?;
        // SAFETY: each type is the C prototype from pam_appl.h for that symbol; the fn pointers
        // are copied out of their `Symbol`s but stay valid as `lib` is kept alongside them in
        // a static and never unloaded.
        unsafe {
            Ok(Pam {
                start: *lib
                    .get::<PamStart>(b"pam_start\0")
                    .map_err(|e| e.to_string())?,
                authenticate: *lib
                    .get::<PamFlagsFn>(b"pam_authenticate\0")
                    .map_err(|e| e.to_string())?,
                acct_mgmt: *lib
                    .get::<PamFlagsFn>(b"pam_acct_mgmt\0")
                    .map_err(|e| e.to_string())?,
                end: *lib.get::<PamEnd>(b"pam_end\0").map_err(|e| e.to_string())?,
                strerror: *lib
                    .get::<PamStrerror>(b"pam_strerror\0")
                    .map_err(|e| e.to_string())?,
                _lib: lib,
            })
        }
    }

    /// PAM's text for a status code.
    fn message(&self, handle: *mut c_void, status: c_int) -> String {
        // SAFETY: Linux-PAM's pam_strerror ignores the handle (null is accepted) and returns
        // a static string, or null for nothing.
        let text = unsafe { (self.strerror)(handle, status) };
        if text.is_null() {
            return format!("PAM status {status}");
        }
        // SAFETY: non-null: a NUL-terminated static string.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }
}

fn pam() -> Result<&'static Pam, PamError> {
    static PAM: OnceLock<Result<Pam, String>> = OnceLock::new();
    PAM.get_or_init(Pam::load)
        .as_ref()
        .map_err(|e| PamError::Unavailable(e.clone()))
}

/// Loads libpam (once) and checks it has what is needed. Called at server start, so a host
/// without Linux-PAM is an error then, not at the first login.
pub fn available() -> Result<(), PamError> {
    pam().map(|_| ())
}

/// What the conversation function answers with; lives on `authenticate`'s stack for the
/// whole PAM transaction.
struct Answers<'a> {
    user: &'a CStr,
    password: &'a CStr,
}

/// Checks `user`'s password with the PAM `service` (a file in /etc/pam.d; a missing one
/// means /etc/pam.d/other), then whether the account may log in now. Blocking, and slow on
/// failure (pam_unix waits about two seconds): call it off the async runtime.
pub fn authenticate(
    service: &str,
    user: &str,
    password: &Zeroizing<String>,
) -> Result<(), PamError> {
    // Refused before PAM: names and passwords C cannot carry, or too long to be real (so a
    // huge body cannot be fed to the hash functions), and empty ones (see
    // PAM_DISALLOW_NULL_AUTHTOK).
    if user.is_empty() || user.len() > MAX_USER || user.contains('\0') {
        return Err(PamError::WrongPassword);
    }
    if password.is_empty() || password.len() > MAX_PASSWORD || password.contains('\0') {
        return Err(PamError::WrongPassword);
    }
    let service = CString::new(service)
        .map_err(|_| PamError::Failed("the PAM service name contains NUL".into()))?;
    let pam = pam()?;
    let c_user = CString::new(user).map_err(|_| PamError::WrongPassword)?;
    // Our C copy of the password: a Vec in Zeroizing is wiped on every way out of here.
    let mut c_password = Zeroizing::new(Vec::with_capacity(password.len() + 1));
    c_password.extend_from_slice(password.as_bytes());
    c_password.push(0);
    let c_password = CStr::from_bytes_with_nul(&c_password).map_err(|_| PamError::WrongPassword)?;
    let answers = Answers {
        user: &c_user,
        password: c_password,
    };
    let conv = PamConv {
        conv: Some(converse),
        appdata_ptr: &answers as *const Answers as *mut c_void,
    };

    let mut handle: *mut c_void = ptr::null_mut();
    // SAFETY: all strings are NUL-terminated and outlive the transaction; `conv` and the
    // `answers` it points to live until after pam_end below; `handle` is valid for writes.
    let status = unsafe { (pam.start)(service.as_ptr(), c_user.as_ptr(), &conv, &mut handle) };
    if status != PAM_SUCCESS || handle.is_null() {
        let text = pam.message(handle, status);
        if !handle.is_null() {
            // SAFETY: a handle pam_start returned, ended once.
            unsafe { (pam.end)(handle, status) };
        }
        return Err(PamError::Failed(format!("pam_start: {text}")));
    }

    // SAFETY: `handle` is a live handle from pam_start, used from this thread only.
    let mut status = unsafe { (pam.authenticate)(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK) };
    let result = if status != PAM_SUCCESS {
        Err(auth_error(pam, handle, status))
    } else {
        // SAFETY: as above.
        status = unsafe { (pam.acct_mgmt)(handle, PAM_SILENT) };
        if status == PAM_SUCCESS {
            Ok(())
        } else {
            Err(account_error(pam, handle, status))
        }
    };
    // SAFETY: the live handle, ended once; nothing uses it afterwards.
    unsafe { (pam.end)(handle, status) };
    result
}

/// pam_authenticate's failures. All the ways of saying "no such user / wrong password" are
/// one error, so the answer does not tell which.
fn auth_error(pam: &Pam, handle: *mut c_void, status: c_int) -> PamError {
    match status {
        PAM_AUTH_ERR | PAM_USER_UNKNOWN | PAM_MAXTRIES | PAM_CRED_INSUFFICIENT => {
            PamError::WrongPassword
        }
        _ => PamError::Failed(format!("pam_authenticate: {}", pam.message(handle, status))),
    }
}

/// pam_acct_mgmt's failures. The password was right by now, so saying why is no leak.
/// PAM_AUTH_ERR is here a refusal too: Debian's common-account turns pam_unix's "expired"
/// into pam_deny's PAM_AUTH_ERR.
fn account_error(pam: &Pam, handle: *mut c_void, status: c_int) -> PamError {
    let text = pam.message(handle, status);
    match status {
        PAM_ACCT_EXPIRED | PAM_NEW_AUTHTOK_REQD | PAM_AUTHTOK_EXPIRED | PAM_PERM_DENIED
        | PAM_AUTH_ERR | PAM_USER_UNKNOWN => PamError::Refused(text),
        _ => PamError::Failed(format!("pam_acct_mgmt: {text}")),
    }
}

/// The conversation function: answers password prompts with the password and visible prompts
/// (a module asking the user name) with the user name; messages for the user are ignored.
///
/// The answers are malloc'ed because PAM frees them. The password copy handed over is then
/// PAM's to wipe: pam_unix (via _pam_drop_reply) overwrites it before freeing; ours is wiped
/// by `authenticate`.
unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG || msg.is_null() || resp.is_null() {
        return PAM_CONV_ERR;
    }
    if appdata.is_null() {
        return PAM_CONV_ERR;
    }
    // SAFETY: appdata is the `Answers` that `authenticate` gave pam_start, alive for the
    // whole transaction.
    let answers = unsafe { &*(appdata as *const Answers) };
    let n = num_msg as usize;
    // SAFETY: calloc with a small count; the result is checked for null. Zeroed memory is a
    // valid PamResponse (null resp, code 0).
    let replies =
        unsafe { libc::calloc(n, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    if replies.is_null() {
        return PAM_CONV_ERR;
    }
    for i in 0..n {
        // SAFETY: Linux-PAM passes an array of `num_msg` message pointers.
        let m = unsafe { *msg.add(i) };
        if m.is_null() {
            // SAFETY: `replies` holds `n` responses, each null or a malloc'ed string.
            unsafe { free_replies(replies, n) };
            return PAM_CONV_ERR;
        }
        // SAFETY: a non-null message from PAM.
        let style = unsafe { (*m).msg_style };
        let answer = match style {
            PAM_PROMPT_ECHO_OFF => Some(answers.password),
            PAM_PROMPT_ECHO_ON => Some(answers.user),
            PAM_ERROR_MSG | PAM_TEXT_INFO => None,
            _ => {
                // SAFETY: as above.
                unsafe { free_replies(replies, n) };
                return PAM_CONV_ERR;
            }
        };
        if let Some(text) = answer {
            // SAFETY: `text` is NUL-terminated; strdup's result is checked.
            let copy = unsafe { libc::strdup(text.as_ptr()) };
            if copy.is_null() {
                // SAFETY: as above.
                unsafe { free_replies(replies, n) };
                return PAM_CONV_ERR;
            }
            // SAFETY: i < n, inside the calloc'ed array.
            unsafe { (*replies.add(i)).resp = copy };
        }
    }
    // SAFETY: `resp` is PAM's out-pointer; PAM now owns `replies` and its strings.
    unsafe { *resp = replies };
    PAM_SUCCESS
}

/// Wipes and frees answers made so far, when the conversation fails half-way.
///
/// # Safety
/// `replies` is a malloc'ed array of `n` responses whose `resp` is null or a malloc'ed,
/// NUL-terminated string.
unsafe fn free_replies(replies: *mut PamResponse, n: usize) {
    for i in 0..n {
        // SAFETY: i < n, per the contract.
        let r = unsafe { &mut *replies.add(i) };
        if !r.resp.is_null() {
            // SAFETY: a NUL-terminated malloc'ed string we own; wiped, then freed once.
            unsafe {
                let len = libc::strlen(r.resp);
                std::slice::from_raw_parts_mut(r.resp as *mut u8, len).zeroize();
                libc::free(r.resp as *mut c_void);
            }
            r.resp = ptr::null_mut();
        }
    }
    // SAFETY: the malloc'ed array, freed once.
    unsafe { libc::free(replies as *mut c_void) };
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    use std::sync::Mutex;

    /// A service with no file in /etc/pam.d, so Linux-PAM uses /etc/pam.d/other.
    const SERVICE: &str = "tmux-audit-test-nonexistent-service";

    /// useradd/userdel lock /etc/passwd: one test at a time changes it.
    pub(crate) static USERS: Mutex<()> = Mutex::new(());

    /// A local user that exists for the life of the guard.
    pub(crate) struct TempUser(pub(crate) String);

    impl TempUser {
        pub(crate) fn create(suffix: &str, password: &str) -> TempUser {
            // SAFETY: geteuid has no preconditions.
            let euid = unsafe { libc::geteuid() };
            assert_eq!(
                euid, 0,
                "the PAM tests create a local user: run them as root"
            );
            let name = format!("ta_pamtest_{}{suffix}", std::process::id());
            let ok = Command::new("useradd")
                .args(["-M", "-N", "-s", "/usr/sbin/nologin", &name])
                .status()
                .expect("run useradd");
            assert!(ok.success(), "useradd {name}: {ok}");
            let user = TempUser(name);
            let mut chpasswd = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .spawn()
                .expect("run chpasswd");
            let mut stdin = chpasswd.stdin.take().unwrap();
            writeln!(stdin, "{}:{password}", user.0).unwrap();
            drop(stdin);
            let ok = chpasswd.wait().unwrap();
            assert!(ok.success(), "chpasswd {}: {ok}", user.0);
            user
        }
    }

    impl Drop for TempUser {
        fn drop(&mut self) {
            match Command::new("userdel").arg(&self.0).status() {
                Ok(s) if s.success() => {}
                other => eprintln!("userdel {}: {other:?}", self.0),
            }
        }
    }

    fn secret(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_owned())
    }

    #[test]
    fn libpam_loads() {
        assert_eq!(available(), Ok(()));
        assert!(std::path::Path::new("/etc/pam.d/other").exists());
        assert!(!std::path::Path::new("/etc/pam.d").join(SERVICE).exists());
    }

    #[test]
    fn real_user_password_checks() {
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let user = TempUser::create("", "Correct-horse-7");
        assert_eq!(
            authenticate(SERVICE, &user.0, &secret("Correct-horse-7")),
            Ok(())
        );
        // Each of these two waits pam_unix's failure delay (about 2 s).
        assert_eq!(
            authenticate(SERVICE, &user.0, &secret("Correct-horse-8")),
            Err(PamError::WrongPassword)
        );
        assert_eq!(
            authenticate(
                SERVICE,
                "ta_pamtest_no_such_user",
                &secret("Correct-horse-7")
            ),
            Err(PamError::WrongPassword)
        );
    }

    #[test]
    fn expired_account_is_refused_with_right_password() {
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let user = TempUser::create("e", "Correct-horse-7");
        let ok = Command::new("chage")
            .args(["-E", "1", &user.0])
            .status()
            .expect("run chage");
        assert!(ok.success(), "chage: {ok}");
        match authenticate(SERVICE, &user.0, &secret("Correct-horse-7")) {
            Err(PamError::Refused(why)) => assert!(!why.is_empty()),
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[test]
    fn unusable_input_is_refused_before_pam() {
        // No PAM call is made (none of these waits the failure delay); "root" exists.
        let cases = [
            ("", "pw".to_owned()),
            ("ro\0ot", "pw".to_owned()),
            (&*"r".repeat(MAX_USER + 1), "pw".to_owned()),
            ("root", String::new()),
            ("root", "p\0w".to_owned()),
            ("root", "p".repeat(MAX_PASSWORD + 1)),
        ];
        for (user, password) in cases {
            let started = std::time::Instant::now();
            assert_eq!(
                authenticate(SERVICE, user, &Zeroizing::new(password)),
                Err(PamError::WrongPassword),
                "user {user:?}"
            );
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
        }
    }
}
