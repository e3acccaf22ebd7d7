//! Logging in with an ed25519 key that is read and decoded once per process, then signs
//! every login itself (libssh2's `libssh2_userauth_publickey` with a signing callback).
//! libssh2's own key-file login decodes the key file with OpenSSL 3 at every login, which
//! is most of the controller's CPU per device. Only unencrypted ed25519 keys in OpenSSH's
//! format are handled here; for anything else (and whenever this login fails) the caller
//! falls back to libssh2's key-file login, which says why a key was refused.
//!
//! The only unsafe code of the transport: one libssh2 call and its callback, which touches
//! nothing but the key it is handed and the buffers libssh2 gives it.

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_uchar, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use ssh_key::private::KeypairData;
use ssh_key::{PrivateKey, SigningKey};

/// A key decoded once: the public blob to offer and the key that signs.
pub(super) struct Key {
    public: Vec<u8>,
    private: PrivateKey,
}

type Callback = unsafe extern "C" fn(
    *mut c_void,
    *mut *mut c_uchar,
    *mut libc::size_t,
    *const c_uchar,
    libc::size_t,
    *mut *mut c_void,
) -> c_int;

unsafe extern "C" {
    // libssh2.h: public-key login with the signature made by `sign_callback`, which gets
    // `abstract` back; the signature it returns is freed by the session's allocator
    // (`free`: the ssh2 crate installs no allocator of its own).
    fn libssh2_userauth_publickey(
        session: *mut c_void,
        username: *const c_char,
        pubkeydata: *const c_uchar,
        pubkeydata_len: libc::size_t,
        sign_callback: Option<Callback>,
        abstract_: *mut *mut c_void,
    ) -> c_int;
}

/// The key at `path`, decoded at most once per file version (path, size and time), or
/// `None` when this module cannot use it (not ed25519, encrypted, not readable).
pub(super) fn load(path: &Path) -> Option<Arc<Key>> {
    type Cache = Mutex<HashMap<PathBuf, (Option<SystemTime>, u64, Option<Arc<Key>>)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let meta = std::fs::metadata(path).ok()?;
    let version = (meta.modified().ok(), meta.len());
    let mut cache = CACHE.get_or_init(Default::default).lock().ok()?;
    if let Some((time, len, key)) = cache.get(path)
        && (*time, *len) == version
    {
        return key.clone();
    }
    let key = decode(path).map(Arc::new);
    cache.insert(path.to_path_buf(), (version.0, version.1, key.clone()));
    key
}

fn decode(path: &Path) -> Option<Key> {
    let text = std::fs::read(path).ok()?;
    let private = PrivateKey::from_openssh(&text).ok()?;
    if private.is_encrypted() || !matches!(private.key_data(), KeypairData::Ed25519(_)) {
        return None;
    }
    let public = private.public_key().to_bytes().ok()?;
    Some(Key { public, private })
}

/// Logs `user` in on `session` (a libssh2 session pointer, locked by the caller) with
/// `key`. `true` when the server accepted it.
///
/// # Safety
/// `session` must be a live libssh2 session that nothing else uses during the call.
pub(super) unsafe fn login(session: *mut c_void, user: &str, key: &Key) -> bool {
    let Ok(user) = CString::new(user) else {
        return false;
    };
    let mut handed: *mut c_void = (&key.private as *const PrivateKey).cast_mut().cast();
    // SAFETY: every pointer is valid for the call; `handed` points at `key.private`, which
    // outlives it, and the callback only reads through it.
    let rc = unsafe {
        libssh2_userauth_publickey(
            session,
            user.as_ptr(),
            key.public.as_ptr(),
            key.public.len(),
            Some(sign),
            &mut handed,
        )
    };
    rc == 0
}

fn signature(key: &impl SigningKey, data: &[u8]) -> Option<Vec<u8>> {
    key.try_sign(data).ok().map(|s| s.as_bytes().to_vec())
}

unsafe extern "C" fn sign(
    _session: *mut c_void,
    sig: *mut *mut c_uchar,
    sig_len: *mut libc::size_t,
    data: *const c_uchar,
    data_len: libc::size_t,
    abstract_: *mut *mut c_void,
) -> c_int {
    // SAFETY: libssh2 hands back the `abstract` given to `login` (a `PrivateKey` alive for
    // the whole login), `data_len` bytes at `data`, and places for the result.
    let made = std::panic::catch_unwind(|| unsafe {
        let key = &*(*abstract_).cast::<PrivateKey>();
        signature(key, std::slice::from_raw_parts(data, data_len))
    });
    let Ok(Some(bytes)) = made else {
        return -1;
    };
    // SAFETY: a buffer of libc's allocator (libssh2 frees it with `free`), filled whole.
    unsafe {
        let out = libc::malloc(bytes.len()).cast::<c_uchar>();
        if out.is_null() {
            return -1;
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len());
        *sig = out;
        *sig_len = bytes.len();
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-N", ""])
            .args(args)
            .arg("-f")
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success());
        path
    }

    #[test]
    fn an_ed25519_key_is_decoded_once_and_others_are_left_to_libssh2() {
        let dir = tempfile::tempdir().unwrap();
        let ed = keygen(dir.path(), "ed", &["-t", "ed25519"]);
        let key = load(&ed).expect("an unencrypted ed25519 key");
        // the blob offered is the one in the .pub file
        let pubtext = std::fs::read_to_string(dir.path().join("ed.pub")).unwrap();
        let blob = ssh_key::PublicKey::from_openssh(pubtext.trim()).unwrap();
        assert_eq!(key.public, blob.to_bytes().unwrap());
        assert!(Arc::ptr_eq(&key, &load(&ed).unwrap()), "decoded once");
        let sig = signature(&key.private, b"data").unwrap();
        assert_eq!(sig.len(), 64);

        let rsa = keygen(dir.path(), "rsa", &["-t", "rsa", "-b", "1024"]);
        assert!(load(&rsa).is_none());
        let locked = dir.path().join("locked");
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "secret", "-f"])
            .arg(&locked)
            .status()
            .unwrap();
        assert!(st.success());
        assert!(load(&locked).is_none());
        assert!(load(&dir.path().join("missing")).is_none());
    }
}
