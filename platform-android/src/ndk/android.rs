//! The real NDK: `android_setsocknetwork` and `android_getaddrinfofornetwork` from libandroid
//! (API 23, linked), and `android_res_nquery` / `android_res_nresult` / `android_res_cancel`
//! (API 29) found at run time with `dlsym`. A directly linked symbol that the device lacks
//! stops `System.loadLibrary` on that device, so the API 29 calls are looked up once and, when
//! missing, reported as [`QueryError::Unavailable`] for the caller to fall back.
//!
//! This is the only place that calls the C functions; each call's safety rests on the
//! arguments made just before it, stated at the call.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::OnceLock;

use super::{DnsQuery, Errno, GaiError, Ndk, NetHandle, QueryError, Reply};

#[link(name = "android")]
extern "C" {
    fn android_setsocknetwork(network: u64, fd: c_int) -> c_int;
    fn android_getaddrinfofornetwork(
        network: u64,
        node: *const c_char,
        service: *const c_char,
        hints: *const libc::addrinfo,
        res: *mut *mut libc::addrinfo,
    ) -> c_int;
}

type NQuery = unsafe extern "C" fn(u64, *const c_char, c_int, c_int, u32) -> c_int;
type NResult = unsafe extern "C" fn(c_int, *mut c_int, *mut u8, usize) -> c_int;
type NCancel = unsafe extern "C" fn(c_int);

/// The API 29 calls, when the device has them.
#[derive(Clone, Copy, Debug)]
struct Api29 {
    nquery: NQuery,
    nresult: NResult,
    cancel: NCancel,
}

fn api29() -> Option<Api29> {
    static API: OnceLock<Option<Api29>> = OnceLock::new();
    *API.get_or_init(|| {
        // SAFETY: the name is a NUL-terminated literal. libandroid is already loaded (this
        // library links it), so dlopen only takes a reference, which is never released: the
        // function pointers below stay valid for the life of the process.
        let lib = unsafe { libc::dlopen(c"libandroid.so".as_ptr(), libc::RTLD_NOW) };
        if lib.is_null() {
            return None;
        }
        let find = |name: &CStr| {
            // SAFETY: `lib` is a live handle from dlopen and `name` is NUL-terminated.
            let sym = unsafe { libc::dlsym(lib, name.as_ptr()) };
            (!sym.is_null()).then_some(sym)
        };
        let (nquery, nresult, cancel) = (
            find(c"android_res_nquery")?,
            find(c"android_res_nresult")?,
            find(c"android_res_cancel")?,
        );
        // SAFETY: these symbols are the NDK functions whose C signatures the three types
        // restate (<android/multinetwork.h>, API 29); a non-null dlsym result is their address.
        unsafe {
            Some(Api29 {
                nquery: std::mem::transmute::<*mut libc::c_void, NQuery>(nquery),
                nresult: std::mem::transmute::<*mut libc::c_void, NResult>(nresult),
                cancel: std::mem::transmute::<*mut libc::c_void, NCancel>(cancel),
            })
        }
    })
}

/// The device's NDK.
#[derive(Clone, Copy, Debug, Default)]
pub struct AndroidNdk;

impl Ndk for AndroidNdk {
    fn set_socket_network(&self, network: NetHandle, socket: BorrowedFd<'_>) -> Result<(), Errno> {
        // SAFETY: the fd is borrowed, so it stays open for the call; the function only marks
        // the socket (no memory is passed).
        let rc = unsafe { android_setsocknetwork(network.0, socket.as_raw_fd()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(Errno::last())
        }
    }

    fn res_nquery(
        &self,
        network: NetHandle,
        name: &CStr,
        rtype: u16,
        flags: u32,
    ) -> Result<DnsQuery, QueryError> {
        let api = api29().ok_or(QueryError::Unavailable)?;
        const CLASS_IN: c_int = 1;
        // SAFETY: `name` is NUL-terminated and outlives the call; the pointer is the API 29
        // function found by dlsym.
        let fd = unsafe {
            (api.nquery)(
                network.0,
                name.as_ptr(),
                CLASS_IN,
                c_int::from(rtype),
                flags,
            )
        };
        if fd < 0 {
            return Err(QueryError::Os(Errno::from_raw(-fd)));
        }
        // SAFETY: a non-negative return is a fresh fd that belongs to the caller until it is
        // handed to res_nresult or res_cancel; nothing else holds it.
        Ok(DnsQuery::new(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn res_nresult(&self, query: DnsQuery, answer: &mut [u8]) -> Result<Reply, Errno> {
        let fd = query.into_fd().into_raw_fd();
        let Some(api) = api29() else {
            // A query exists only if the calls were found; close the fd the plain way anyway.
            // SAFETY: `fd` came from into_raw_fd just above and is owned here.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            return Err(Errno::ENOSYS);
        };
        let mut rcode: c_int = 0;
        // SAFETY: res_nresult takes ownership of `fd` (it closes it); `rcode` and `answer` are
        // valid for writes of the sizes given.
        let n = unsafe { (api.nresult)(fd, &mut rcode, answer.as_mut_ptr(), answer.len()) };
        if n < 0 {
            return Err(Errno::from_raw(-n));
        }
        Ok(Reply {
            rcode: u8::try_from(rcode).unwrap_or(u8::MAX),
            len: usize::try_from(n).unwrap_or(0).min(answer.len()),
        })
    }

    fn res_cancel(&self, query: DnsQuery) {
        let fd = query.into_fd().into_raw_fd();
        match api29() {
            // SAFETY: res_cancel takes ownership of `fd` and closes it.
            Some(api) => unsafe { (api.cancel)(fd) },
            // SAFETY: `fd` came from into_raw_fd just above and is owned here.
            None => drop(unsafe { OwnedFd::from_raw_fd(fd) }),
        }
    }

    fn getaddrinfo_for_network(
        &self,
        network: NetHandle,
        host: &CStr,
    ) -> Result<Vec<IpAddr>, GaiError> {
        // SAFETY: addrinfo is a plain C struct for which all-zero is the documented "no hints"
        // value; the fields that matter are set below.
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut list: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: `host` is NUL-terminated, the service may be NULL, `hints` and `list` are
        // valid for the call; on success `list` is freed below with freeaddrinfo.
        let rc = unsafe {
            android_getaddrinfofornetwork(
                network.0,
                host.as_ptr(),
                std::ptr::null(),
                &hints,
                &mut list,
            )
        };
        if rc != 0 {
            return Err(match rc {
                libc::EAI_NODATA => GaiError::NoData,
                libc::EAI_NONAME => GaiError::NoName,
                libc::EAI_AGAIN => GaiError::Again,
                libc::EAI_FAIL => GaiError::Fail,
                libc::EAI_MEMORY => GaiError::Memory,
                libc::EAI_SYSTEM => GaiError::System(Errno::last()),
                other => GaiError::Other(other),
            });
        }
        let mut addrs = Vec::new();
        let mut node = list;
        while !node.is_null() {
            // SAFETY: `node` is an element of the list getaddrinfo returned, not yet freed.
            let ai = unsafe { &*node };
            if !ai.ai_addr.is_null() {
                match ai.ai_family {
                    libc::AF_INET => {
                        // SAFETY: for AF_INET, ai_addr points to a sockaddr_in.
                        let sin = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in) };
                        addrs.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        // SAFETY: for AF_INET6, ai_addr points to a sockaddr_in6.
                        let sin6 = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in6) };
                        addrs.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            node = ai.ai_next;
        }
        // SAFETY: `list` is the head getaddrinfo returned; it is freed once and not used after.
        unsafe { libc::freeaddrinfo(list) };
        Ok(addrs)
    }
}
