//! The Win32 calls behind [`crate::acl`]: the current user's SID, a file's DACL as SDDL, and a
//! protected DACL set from SDDL. The only `unsafe` code of onshi (Windows only): each call is
//! the documented use of one advapi32 function, every buffer it returns freed with `LocalFree`.
#![allow(unsafe_code)]

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, ERROR_SUCCESS, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
    SetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    GetSecurityDescriptorDacl, GetTokenInformation, TokenUser, ACL, DACL_SECURITY_INFORMATION,
    PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// A NUL-terminated UTF-16 copy of `s`.
fn wide(s: &std::ffi::OsStr) -> io::Result<Vec<u16>> {
    let w: Vec<u16> = s.encode_wide().chain(Some(0)).collect();
    if w[..w.len() - 1].contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a NUL in the path",
        ));
    }
    Ok(w)
}

/// A NUL-terminated UTF-16 string Windows allocated, read and freed.
///
/// # Safety
/// `p` is null or a `LocalAlloc`ed NUL-terminated string that nothing else frees.
unsafe fn take_wide(p: *mut u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    while *p.add(len) != 0 {
        len += 1;
    }
    let s = String::from_utf16_lossy(std::slice::from_raw_parts(p, len));
    LocalFree(p.cast());
    s
}

/// The SID of the user this process runs as (`S-1-5-21-…`).
pub fn current_user_sid() -> io::Result<String> {
    // SAFETY: the token handle is ours and closed once; the buffer is sized by the first
    // GetTokenInformation call and aligned for TOKEN_USER (u64 elements); the SID it holds is
    // only read while the buffer lives.
    unsafe {
        let mut token: HANDLE = std::ptr::null_mut();
        if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut needed = 0u32;
        GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut needed);
        let mut buf = vec![0u64; (needed as usize).div_ceil(8).max(1)];
        let ok = GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut needed,
        );
        let err = io::Error::last_os_error();
        CloseHandle(token);
        if ok == 0 {
            return Err(err);
        }
        let user = &*(buf.as_ptr().cast::<TOKEN_USER>());
        let mut text: *mut u16 = std::ptr::null_mut();
        if ConvertSidToStringSidW(user.User.Sid, &mut text) == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(take_wide(text))
    }
}

/// The DACL of `path` as SDDL (`D:P(A;OICI;FA;;;S-1-5-21-…)…`).
pub fn dacl_sddl(path: &Path) -> io::Result<String> {
    let name = wide(path.as_os_str())?;
    // SAFETY: `name` is NUL-terminated; the descriptor GetNamedSecurityInfoW allocates is
    // converted, then freed once; the DACL pointer into it is not kept.
    unsafe {
        let mut dacl: *mut ACL = std::ptr::null_mut();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        let rc = GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut sd,
        );
        if rc != ERROR_SUCCESS {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        let mut text: *mut u16 = std::ptr::null_mut();
        let ok = ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            std::ptr::null_mut(),
        );
        let err = io::Error::last_os_error();
        LocalFree(sd);
        if ok == 0 {
            return Err(err);
        }
        Ok(take_wide(text))
    }
}

/// Replaces the DACL of `path` with `sddl`'s (a `D:P…` string), protected from its folder's
/// entries; Windows passes a folder's inheritable entries on to what it holds.
pub fn set_dacl(path: &Path, sddl: &str) -> io::Result<()> {
    let name = wide(path.as_os_str())?;
    let text = wide(std::ffi::OsStr::new(sddl))?;
    // SAFETY: both strings are NUL-terminated; the descriptor built from the SDDL is freed once,
    // after SetNamedSecurityInfoW, which copies the DACL that points into it.
    unsafe {
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        if ConvertStringSecurityDescriptorToSecurityDescriptorW(
            text.as_ptr(),
            SDDL_REVISION_1,
            &mut sd,
            std::ptr::null_mut(),
        ) == 0
        {
            return Err(io::Error::last_os_error());
        }
        let (mut present, mut defaulted) = (0, 0);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        let rc = if GetSecurityDescriptorDacl(sd, &mut present, &mut dacl, &mut defaulted) == 0
            || present == 0
        {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no DACL in the SDDL",
            ))
        } else {
            match SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                dacl,
                std::ptr::null(),
            ) {
                ERROR_SUCCESS => Ok(()),
                e => Err(io::Error::from_raw_os_error(e as i32)),
            }
        };
        LocalFree(sd);
        rc
    }
}
