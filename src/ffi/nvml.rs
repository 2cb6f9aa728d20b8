//! NVML, loaded at run time with `dlopen` (never linked: nodes without NVIDIA drivers must still
//! load the plugin).
//!
//! `nvmlInit_v2` can take seconds or hang (driver in a bad state, GPU fallen off the bus). It runs
//! in a helper thread and [`Nvml::open`] waits for it at most `init_timeout`; a thread that
//! answers in time is joined. On a timeout the thread is **leaked**, not joined (joining would
//! block slurmstepd for as long as NVML hangs), and the shared object holding this code is pinned
//! with `RTLD_NODELETE` so that slurmstepd's dlclose of the plugin cannot unmap code the leaked
//! thread will return into. If `nvmlInit_v2` eventually succeeds there, that thread calls
//! `nvmlShutdown` itself.
//!
//! libnvidia-ml is never unloaded, on success or error: it may keep helper threads or
//! thread-local destructors, and unmapping it inside a long-lived multithreaded slurmstepd would
//! leave them pointing at nothing. One mapping per process is the cost.
//!
//! NVML is documented as thread-safe, so [`Nvml`] is `Send + Sync`; [`Device`] handles borrow the
//! [`Nvml`] they came from and cannot outlive its `nvmlShutdown`.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::sync::mpsc;
use std::time::Duration;

/// `nvmlReturn_t`.
type Ret = c_int;
/// `nvmlDevice_t`, an opaque pointer.
type RawDevice = *mut c_void;

type InitFn = unsafe extern "C" fn() -> Ret;
type ShutdownFn = unsafe extern "C" fn() -> Ret;
type GetCountFn = unsafe extern "C" fn(*mut c_uint) -> Ret;
type HandleByIndexFn = unsafe extern "C" fn(c_uint, *mut RawDevice) -> Ret;
type HandleByUuidFn = unsafe extern "C" fn(*const c_char, *mut RawDevice) -> Ret;
type GetStringFn = unsafe extern "C" fn(RawDevice, *mut c_char, c_uint) -> Ret;
type GetMinorFn = unsafe extern "C" fn(RawDevice, *mut c_uint) -> Ret;
type GetEnergyFn = unsafe extern "C" fn(RawDevice, *mut c_ulonglong) -> Ret;
type GetUtilizationFn = unsafe extern "C" fn(RawDevice, *mut Utilization) -> Ret;
type GetMemoryInfoFn = unsafe extern "C" fn(RawDevice, *mut MemoryInfo) -> Ret;
type SystemStringFn = unsafe extern "C" fn(*mut c_char, c_uint) -> Ret;
type GetPciInfoFn = unsafe extern "C" fn(RawDevice, *mut PciInfo) -> Ret;
type GetMigModeFn = unsafe extern "C" fn(RawDevice, *mut c_uint, *mut c_uint) -> Ret;

/// `NVML_DEVICE_UUID_V2_BUFFER_SIZE` and `NVML_DEVICE_NAME_V2_BUFFER_SIZE`.
const STRING_BUFFER: usize = 96;

const NVML_SUCCESS: Ret = 0;
const NVML_ERROR_NOT_SUPPORTED: Ret = 3;
const NVML_ERROR_NOT_FOUND: Ret = 6;
const NVML_ERROR_FUNCTION_NOT_FOUND: Ret = 13;

/// `nvmlUtilization_t`: percent of time over the last sample period.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utilization {
    /// Percent of time a kernel was running.
    pub gpu: c_uint,
    /// Percent of time device memory was read or written.
    pub memory: c_uint,
}

/// `nvmlMemory_t` (version 1, as `nvmlDeviceGetMemoryInfo` fills it): bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryInfo {
    /// Installed device memory.
    pub total: c_ulonglong,
    /// Unallocated device memory.
    pub free: c_ulonglong,
    /// Allocated device memory (by any process, and the driver's own reservation).
    pub used: c_ulonglong,
}

/// `nvmlPciInfo_t` (as `nvmlDeviceGetPciInfo_v3` fills it).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
// Only `bus_id` is read; the other fields give the struct NVML's layout.
#[allow(dead_code)]
struct PciInfo {
    bus_id_legacy: [c_char; 16],
    domain: c_uint,
    bus: c_uint,
    device: c_uint,
    pci_device_id: c_uint,
    pci_sub_system_id: c_uint,
    bus_id: [c_char; 32],
}

/// `nvmlDeviceGetMigMode`: the mode in force and the one applied at the next GPU reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigMode {
    /// MIG is on now.
    pub current: bool,
    /// MIG will be on after the next reset.
    pub pending: bool,
}

/// An NVML call that did not return `NVML_SUCCESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvmlError {
    /// The NVML function.
    pub call: &'static str,
    /// Its `nvmlReturn_t`.
    pub code: i32,
}

impl NvmlError {
    /// `NVML_ERROR_NOT_SUPPORTED`: the device lacks the feature (e.g. energy before Volta).
    pub fn is_not_supported(&self) -> bool {
        self.code == NVML_ERROR_NOT_SUPPORTED
    }

    /// The `NVML_ERROR_*` meaning of the code.
    pub fn reason(&self) -> &'static str {
        match self.code {
            1 => "NVML not initialised",
            2 => "invalid argument",
            3 => "not supported",
            4 => "no permission",
            5 => "already initialised",
            6 => "not found",
            7 => "insufficient size",
            8 => "insufficient power",
            9 => "driver not loaded",
            10 => "timeout",
            11 => "interrupt issue",
            12 => "library not found",
            13 => "function not found",
            14 => "corrupted infoROM",
            15 => "GPU is lost",
            16 => "GPU reset required",
            17 => "operating system call failed",
            18 => "driver/library version mismatch",
            19 => "in use",
            20 => "out of memory",
            21 => "no data",
            _ => "unknown error",
        }
    }
}

impl fmt::Display for NvmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.call, self.reason(), self.code)
    }
}

impl std::error::Error for NvmlError {}

fn check(call: &'static str, code: Ret) -> Result<(), NvmlError> {
    if code == NVML_SUCCESS {
        Ok(())
    } else {
        Err(NvmlError { call, code })
    }
}

/// A GPU handle, valid while the [`Nvml`] it came from is alive.
#[derive(Debug, Clone, Copy)]
pub struct Device<'nvml> {
    raw: RawDevice,
    _nvml: PhantomData<&'nvml Nvml>,
}

struct Api {
    shutdown: ShutdownFn,
    get_count: GetCountFn,
    handle_by_index: HandleByIndexFn,
    handle_by_uuid: HandleByUuidFn,
    get_uuid: GetStringFn,
    get_name: GetStringFn,
    get_minor: GetMinorFn,
    get_energy: GetEnergyFn,
    get_utilization: Option<GetUtilizationFn>,
    get_memory_info: Option<GetMemoryInfoFn>,
    // Only `rci doctor` asks for these; a library without them still measures energy.
    get_driver_version: Option<SystemStringFn>,
    get_pci_info: Option<GetPciInfoFn>,
    get_mig_mode: Option<GetMigModeFn>,
}

/// An initialised NVML. Dropping it calls `nvmlShutdown` and closes the library.
pub struct Nvml {
    lib: *mut c_void,
    api: Api,
}

impl fmt::Debug for Nvml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nvml").field("lib", &self.lib).finish()
    }
}

// SAFETY: NVML is thread-safe (NVML API reference, "Multi-threading"); `lib` is only passed to
// dlclose once, in Drop, which has exclusive access.
unsafe impl Send for Nvml {}
// SAFETY: as above; every method takes &self and only calls thread-safe NVML functions.
unsafe impl Sync for Nvml {}

fn dlerror_text() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string owned by libc, valid until the next
    // dl* call on this thread; we copy it at once.
    let p = unsafe { libc::dlerror() };
    if p.is_null() {
        "unknown dlopen error".to_owned()
    } else {
        // SAFETY: non-NULL, NUL-terminated (see above).
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

fn symbol(lib: *mut c_void, name: &CStr) -> Option<*mut c_void> {
    // SAFETY: `lib` is a live handle from dlopen and `name` is NUL-terminated.
    let p = unsafe { libc::dlsym(lib, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

macro_rules! optional {
    ($lib:expr, $name:literal, $ty:ty) => {
        symbol($lib, $name).map(|p| {
            // SAFETY: as in `required!`: nvml.h's signature for this function.
            unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
        })
    };
}

macro_rules! required {
    ($lib:expr, $name:literal, $ty:ty) => {
        match symbol($lib, $name) {
            // SAFETY: the NVML function of this name has exactly this C signature (nvml.h);
            // function and data pointers have the same size on every platform we build for.
            Some(p) => unsafe { std::mem::transmute::<*mut c_void, $ty>(p) },
            None => return Err(format!("NVML library lacks {}", $name.to_string_lossy())),
        }
    };
}

impl Nvml {
    /// Loads `library` (`RTLD_NOW | RTLD_LOCAL`), resolves the functions we use and runs
    /// `nvmlInit_v2`, waiting at most `init_timeout` for it (see the module docs).
    pub fn open(library: &str, init_timeout: Duration) -> Result<Nvml, String> {
        let path = CString::new(library).map_err(|_| format!("bad NVML path {library:?}"))?;
        // SAFETY: `path` is NUL-terminated. Loading runs the library's constructors, which is
        // what using NVML at all requires.
        let lib = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if lib.is_null() {
            return Err(format!("{library} not found ({})", dlerror_text()));
        }
        match Self::resolve(lib) {
            Ok((init, api)) => Self::init(lib, init, api, init_timeout),
            // Never dlclose libnvidia-ml (module docs).
            Err(e) => Err(format!("{library}: {e}")),
        }
    }

    fn resolve(lib: *mut c_void) -> Result<(InitFn, Api), String> {
        let init = required!(lib, c"nvmlInit_v2", InitFn);
        let api = Api {
            shutdown: required!(lib, c"nvmlShutdown", ShutdownFn),
            get_count: required!(lib, c"nvmlDeviceGetCount_v2", GetCountFn),
            handle_by_index: required!(lib, c"nvmlDeviceGetHandleByIndex_v2", HandleByIndexFn),
            handle_by_uuid: required!(lib, c"nvmlDeviceGetHandleByUUID", HandleByUuidFn),
            get_uuid: required!(lib, c"nvmlDeviceGetUUID", GetStringFn),
            get_name: required!(lib, c"nvmlDeviceGetName", GetStringFn),
            get_minor: required!(lib, c"nvmlDeviceGetMinorNumber", GetMinorFn),
            get_energy: required!(lib, c"nvmlDeviceGetTotalEnergyConsumption", GetEnergyFn),
            get_utilization: optional!(lib, c"nvmlDeviceGetUtilizationRates", GetUtilizationFn),
            get_memory_info: optional!(lib, c"nvmlDeviceGetMemoryInfo", GetMemoryInfoFn),
            get_driver_version: optional!(lib, c"nvmlSystemGetDriverVersion", SystemStringFn),
            get_pci_info: optional!(lib, c"nvmlDeviceGetPciInfo_v3", GetPciInfoFn),
            get_mig_mode: optional!(lib, c"nvmlDeviceGetMigMode", GetMigModeFn),
        };
        Ok((init, api))
    }

    fn init(lib: *mut c_void, init: InitFn, api: Api, timeout: Duration) -> Result<Nvml, String> {
        let shutdown = api.shutdown;
        let (tx, rx) = mpsc::channel::<Ret>();
        let spawned = std::thread::Builder::new()
            .name("rci-nvml-init".to_owned())
            // Vendor code (nvmlInit) runs on this stack, and a cdylib has no stack-overflow
            // guard handler: give it a normal 8 MiB stack (virtual memory only).
            .stack_size(8 << 20)
            .spawn(move || {
                // SAFETY: nvmlInit_v2 takes no arguments; the library stays loaded for as long
                // as this process runs (it is never closed: module docs).
                let rc = unsafe { init() };
                if tx.send(rc).is_err() && rc == NVML_SUCCESS {
                    // Nobody waits any more (timed out): undo our initialisation.
                    // SAFETY: NVML was initialised by the call above.
                    unsafe { shutdown() };
                }
            });
        // On errors `lib` stays loaded, like on success (module docs).
        let thread = match spawned {
            Ok(thread) => thread,
            Err(e) => return Err(format!("cannot start a thread for nvmlInit_v2: {e}")),
        };
        let answer = rx.recv_timeout(timeout);
        if answer == Err(mpsc::RecvTimeoutError::Timeout) {
            // Leak the thread (dropping its handle detaches it) and pin this code (module
            // docs).
            drop(thread);
            super::dso::pin_this_object();
        } else {
            // It has sent its answer (or died): it returns at once; join it so no thread of
            // ours outlives this call.
            let _ = thread.join();
        }
        match answer {
            Ok(NVML_SUCCESS) => Ok(Nvml { lib, api }),
            Ok(code) => Err(NvmlError {
                call: "nvmlInit_v2",
                code,
            }
            .to_string()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "nvmlInit_v2 did not return within {:.1} s; GPU energy not measured",
                timeout.as_secs_f64()
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err("nvmlInit_v2 thread ended without an answer".to_owned())
            }
        }
    }

    fn device(&self, raw: RawDevice) -> Device<'_> {
        Device {
            raw,
            _nvml: PhantomData,
        }
    }

    /// `nvmlDeviceGetCount_v2`.
    pub fn device_count(&self) -> Result<u32, NvmlError> {
        let mut count: c_uint = 0;
        // SAFETY: NVML is initialised (self exists); `count` is a valid out-pointer.
        check("nvmlDeviceGetCount_v2", unsafe {
            (self.api.get_count)(&mut count)
        })?;
        Ok(count)
    }

    /// `nvmlDeviceGetHandleByIndex_v2` (NVML's own enumeration order).
    pub fn device_by_index(&self, index: u32) -> Result<Device<'_>, NvmlError> {
        let mut raw: RawDevice = std::ptr::null_mut();
        // SAFETY: NVML is initialised; `raw` is a valid out-pointer.
        check("nvmlDeviceGetHandleByIndex_v2", unsafe {
            (self.api.handle_by_index)(index, &mut raw)
        })?;
        Ok(self.device(raw))
    }

    /// `nvmlDeviceGetHandleByUUID` (`GPU-…` or `MIG-…`).
    pub fn device_by_uuid(&self, uuid: &str) -> Result<Device<'_>, NvmlError> {
        let c_uuid = CString::new(uuid).map_err(|_| NvmlError {
            call: "nvmlDeviceGetHandleByUUID",
            code: 2,
        })?;
        let mut raw: RawDevice = std::ptr::null_mut();
        // SAFETY: NVML is initialised; `c_uuid` is NUL-terminated and `raw` a valid out-pointer.
        check("nvmlDeviceGetHandleByUUID", unsafe {
            (self.api.handle_by_uuid)(c_uuid.as_ptr(), &mut raw)
        })?;
        Ok(self.device(raw))
    }

    /// Every device, in NVML's order.
    pub fn devices(&self) -> Result<Vec<Device<'_>>, NvmlError> {
        (0..self.device_count()?)
            .map(|i| self.device_by_index(i))
            .collect()
    }

    /// The device whose `/dev/nvidiaN` minor number is `minor`.
    pub fn device_by_minor(&self, minor: u32) -> Result<Device<'_>, NvmlError> {
        for dev in self.devices()? {
            if self.minor_number(&dev) == Ok(minor) {
                return Ok(dev);
            }
        }
        Err(NvmlError {
            call: "nvmlDeviceGetMinorNumber",
            code: NVML_ERROR_NOT_FOUND,
        })
    }

    /// The UUID of the GPU behind `/dev/nvidia<minor>`, if NVML knows it.
    pub fn uuid_for_minor(&self, minor: u32) -> Option<String> {
        let dev = self.device_by_minor(minor).ok()?;
        self.uuid(&dev).ok()
    }

    fn string(
        &self,
        call: &'static str,
        f: GetStringFn,
        dev: &Device<'_>,
    ) -> Result<String, NvmlError> {
        let mut buf = [0u8; STRING_BUFFER];
        // SAFETY: NVML is initialised and `dev` came from it; NVML writes at most `len` bytes
        // including the NUL into `buf`.
        check(call, unsafe {
            f(dev.raw, buf.as_mut_ptr().cast(), STRING_BUFFER as c_uint)
        })?;
        Ok(c_text(&buf))
    }

    /// `nvmlDeviceGetUUID`.
    pub fn uuid(&self, dev: &Device<'_>) -> Result<String, NvmlError> {
        self.string("nvmlDeviceGetUUID", self.api.get_uuid, dev)
    }

    /// `nvmlDeviceGetName` (product name, e.g. `NVIDIA H100 80GB HBM3`).
    pub fn name(&self, dev: &Device<'_>) -> Result<String, NvmlError> {
        self.string("nvmlDeviceGetName", self.api.get_name, dev)
    }

    /// `nvmlDeviceGetMinorNumber`: N of `/dev/nvidiaN`.
    pub fn minor_number(&self, dev: &Device<'_>) -> Result<u32, NvmlError> {
        let mut minor: c_uint = 0;
        // SAFETY: NVML is initialised, `dev` came from it, `minor` is a valid out-pointer.
        check("nvmlDeviceGetMinorNumber", unsafe {
            (self.api.get_minor)(dev.raw, &mut minor)
        })?;
        Ok(minor)
    }

    /// `nvmlDeviceGetTotalEnergyConsumption`: mJ since the driver was loaded (Volta and newer;
    /// `NOT_SUPPORTED` before, and for MIG instances).
    pub fn total_energy_mj(&self, dev: &Device<'_>) -> Result<u64, NvmlError> {
        let mut mj: c_ulonglong = 0;
        // SAFETY: NVML is initialised, `dev` came from it, `mj` is a valid out-pointer.
        check("nvmlDeviceGetTotalEnergyConsumption", unsafe {
            (self.api.get_energy)(dev.raw, &mut mj)
        })?;
        Ok(mj)
    }

    /// `nvmlDeviceGetUtilizationRates`, where the library has it.
    pub fn utilization(&self, dev: &Device<'_>) -> Result<Utilization, NvmlError> {
        const CALL: &str = "nvmlDeviceGetUtilizationRates";
        let f = self.api.get_utilization.ok_or(function_not_found(CALL))?;
        let mut u = Utilization::default();
        // SAFETY: NVML is initialised, `dev` came from it, `u` is a valid `nvmlUtilization_t`.
        check(CALL, unsafe { f(dev.raw, &mut u) })?;
        Ok(u)
    }

    /// `nvmlDeviceGetMemoryInfo`, where the library has it.
    pub fn memory_info(&self, dev: &Device<'_>) -> Result<MemoryInfo, NvmlError> {
        const CALL: &str = "nvmlDeviceGetMemoryInfo";
        let f = self.api.get_memory_info.ok_or(function_not_found(CALL))?;
        let mut m = MemoryInfo::default();
        // SAFETY: NVML is initialised, `dev` came from it, `m` is a valid `nvmlMemory_t` (v1).
        check(CALL, unsafe { f(dev.raw, &mut m) })?;
        Ok(m)
    }
}

/// Opens `library` and runs `query` on it in a helper thread, waiting at most `deadline` for
/// both together: for NVML calls made from a slurmstepd thread that Slurm waits on (a step's
/// launch, the job's end), where a driver that blocks in any call, not only in `nvmlInit`, must
/// not hold the step. On a timeout the thread is left behind and this shared object pinned, as
/// in [`Nvml::open`]; NVML is shut down when `query` returns.
pub fn query_bounded<T: Send + 'static>(
    library: &str,
    deadline: Duration,
    query: impl FnOnce(&Nvml) -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    let library = library.to_owned();
    let spawned = std::thread::Builder::new()
        .name("rci-nvml-query".to_owned())
        .stack_size(8 << 20)
        .spawn(move || {
            let answer = Nvml::open(&library, deadline).map(|nvml| query(&nvml));
            let _ = tx.send(answer);
        });
    let thread = spawned.map_err(|e| format!("cannot start a thread for NVML: {e}"))?;
    match rx.recv_timeout(deadline) {
        Ok(answer) => {
            let _ = thread.join();
            answer
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            drop(thread);
            super::dso::pin_this_object();
            Err(format!(
                "NVML did not answer within {:.1} s; going on without it",
                deadline.as_secs_f64()
            ))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = thread.join();
            Err("the NVML thread ended without an answer".to_owned())
        }
    }
}

impl Nvml {
    /// `nvmlSystemGetDriverVersion` (e.g. `535.183.01`).
    pub fn driver_version(&self) -> Result<String, NvmlError> {
        const CALL: &str = "nvmlSystemGetDriverVersion";
        let f = self
            .api
            .get_driver_version
            .ok_or(function_not_found(CALL))?;
        let mut buf = [0u8; STRING_BUFFER];
        // SAFETY: NVML is initialised; it writes at most `len` bytes including the NUL.
        check(CALL, unsafe {
            f(buf.as_mut_ptr().cast(), STRING_BUFFER as c_uint)
        })?;
        Ok(c_text(&buf))
    }

    /// `nvmlDeviceGetPciInfo_v3`: the PCI address as NVML prints it (`00000000:17:00.0`).
    pub fn pci_bus_id(&self, dev: &Device<'_>) -> Result<String, NvmlError> {
        const CALL: &str = "nvmlDeviceGetPciInfo_v3";
        let f = self.api.get_pci_info.ok_or(function_not_found(CALL))?;
        let mut info = PciInfo {
            bus_id_legacy: [0; 16],
            domain: 0,
            bus: 0,
            device: 0,
            pci_device_id: 0,
            pci_sub_system_id: 0,
            bus_id: [0; 32],
        };
        // SAFETY: NVML is initialised, `dev` came from it, `info` is a valid `nvmlPciInfo_t`.
        check(CALL, unsafe { f(dev.raw, &mut info) })?;
        let bytes: Vec<u8> = info.bus_id.iter().map(|&c| c as u8).collect();
        Ok(c_text(&bytes))
    }

    /// `nvmlDeviceGetMigMode` (`NOT_SUPPORTED` on GPUs without MIG).
    pub fn mig_mode(&self, dev: &Device<'_>) -> Result<MigMode, NvmlError> {
        const CALL: &str = "nvmlDeviceGetMigMode";
        let f = self.api.get_mig_mode.ok_or(function_not_found(CALL))?;
        let (mut current, mut pending): (c_uint, c_uint) = (0, 0);
        // SAFETY: NVML is initialised, `dev` came from it, both are valid out-pointers.
        check(CALL, unsafe { f(dev.raw, &mut current, &mut pending) })?;
        Ok(MigMode {
            current: current == 1,
            pending: pending == 1,
        })
    }
}

fn function_not_found(call: &'static str) -> NvmlError {
    NvmlError {
        call,
        code: NVML_ERROR_FUNCTION_NOT_FOUND,
    }
}

/// A C string in `buf`, without trusting NVML to terminate it.
fn c_text(buf: &[u8]) -> String {
    CStr::from_bytes_until_nul(buf)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(buf).into_owned())
}

impl Drop for Nvml {
    fn drop(&mut self) {
        // The library is shut down but never unloaded (module docs).
        // SAFETY: NVML was initialised by `open`; no Device outlives `self` (lifetime-bound).
        unsafe { (self.api.shutdown)() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_is_an_error_naming_it() {
        let err =
            Nvml::open("libnvidia-ml-does-not-exist.so.1", Duration::from_secs(1)).unwrap_err();
        assert!(
            err.starts_with("libnvidia-ml-does-not-exist.so.1 not found"),
            "{err}"
        );
    }

    #[test]
    fn library_without_nvml_symbols_is_rejected() {
        // libc is loaded in every process and has none of NVML's functions.
        let err = Nvml::open("libc.so.6", Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("lacks nvmlInit_v2"), "{err}");
    }

    #[test]
    fn errors_name_call_and_reason() {
        let e = NvmlError {
            call: "nvmlDeviceGetTotalEnergyConsumption",
            code: 3,
        };
        assert!(e.is_not_supported());
        assert_eq!(
            e.to_string(),
            "nvmlDeviceGetTotalEnergyConsumption: not supported (3)"
        );
    }
}
