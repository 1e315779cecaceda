//! The GPU runtime: adapter choice, buffer pool, pipeline cache and batched command recording.

mod batch;
pub mod kernel;
mod pipelines;
mod pool;
pub mod profiler;
pub mod report;
pub mod work;
pub use work::{Direction, Work};

pub use batch::{Arg, PARAM_BYTES};
pub use pool::GpuBuffer;

use crate::error::{Error, Field, Result};
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// How the user asked for an adapter (`--backend`, `--adapter`).
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    pub backend: Option<String>,
    pub adapter: Option<String>,
    /// Compile shaders with wgpu's runtime checks (bounded loops, clamped indices): slower, for
    /// debugging a kernel. Off by default on Vulkan, always on elsewhere (see `pipelines.rs`).
    pub checked_shaders: bool,
    /// Without `adapter`: take the n-th (modulo their number) of the best adapters of one kind,
    /// so that the data-parallel ranks of one host spread over its GPUs.
    pub nth: usize,
}

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    pool: std::rc::Rc<RefCell<pool::BufferPool>>,
    pipelines: RefCell<pipelines::PipelineCache>,
    batch: RefCell<batch::Batch>,
    errors: Arc<Mutex<Vec<String>>>,
    profiler: RefCell<Option<profiler::Profiler>>,
    direction: std::cell::Cell<work::Direction>,
    vector_loads: std::cell::Cell<bool>,
    f16_gemm: std::cell::Cell<bool>,
    f16_activations: std::cell::Cell<bool>,
    checked_shaders: bool,
}

pub fn parse_backends(name: Option<&str>) -> Result<wgpu::Backends> {
    Ok(match name.map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("all") => wgpu::Backends::all(),
        Some("vulkan") => wgpu::Backends::VULKAN,
        Some("metal") => wgpu::Backends::METAL,
        Some("dx12") => wgpu::Backends::DX12,
        Some("gl") => wgpu::Backends::GL,
        Some(other) => {
            return Err(Error::Invalid(format!(
                "unknown backend {other:?}; expected vulkan, metal, dx12 or gl"
            )));
        }
    })
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
    desc.backends &= backends;
    wgpu::Instance::new(desc)
}

/// Rank adapters: real GPUs first, then Vulkan software drivers, GL last.
fn adapter_rank(info: &wgpu::AdapterInfo) -> i32 {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 40,
        wgpu::DeviceType::IntegratedGpu => 30,
        wgpu::DeviceType::VirtualGpu => 20,
        wgpu::DeviceType::Cpu => 10,
        wgpu::DeviceType::Other => 0,
    };
    let backend = if info.backend == wgpu::Backend::Gl {
        0
    } else {
        5
    };
    kind + backend
}

pub fn describe(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} ({:?}, {:?}, driver {} {})",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    )
}

/// Every adapter wgpu can see for these options, best first.
pub fn list_adapters(opts: &GpuOptions) -> Result<Vec<wgpu::Adapter>> {
    let backends = parse_backends(opts.backend.as_deref())?;
    let mut adapters = pollster::block_on(instance(backends).enumerate_adapters(backends));
    adapters.sort_by_key(|a| -adapter_rank(&a.get_info()));
    Ok(adapters)
}

impl Gpu {
    pub fn new(opts: &GpuOptions) -> Result<Gpu> {
        let adapters = list_adapters(opts)?;
        if adapters.is_empty() {
            let detail = opts
                .backend
                .as_ref()
                .map(|b| format!(" for backend {b}"))
                .unwrap_or_default();
            return Err(Error::NoAdapter { detail });
        }
        let adapter = match &opts.adapter {
            None => {
                let best = adapter_rank(&adapters[0].get_info());
                let peers = adapters
                    .iter()
                    .take_while(|a| adapter_rank(&a.get_info()) == best)
                    .count();
                adapters.into_iter().nth(opts.nth % peers).unwrap()
            }
            Some(want) => {
                let names: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
                let w = want.to_ascii_lowercase();
                adapters
                    .into_iter()
                    .find(|a| a.get_info().name.to_ascii_lowercase().contains(&w))
                    .ok_or_else(|| Error::AdapterNotFound {
                        wanted: want.clone(),
                        available: names.join("; "),
                    })?
            }
        };
        Self::from_adapter(adapter, opts)
    }

    fn from_adapter(adapter: wgpu::Adapter, opts: &GpuOptions) -> Result<Gpu> {
        let info = adapter.get_info();
        let wanted = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
            | wgpu::Features::SHADER_F16
            | wgpu::Features::SUBGROUP;
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("tinynas"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Device {
            adapter: describe(&info),
            reason: e.to_string(),
        })?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string());
        }));
        let align = limits.min_uniform_buffer_offset_alignment.max(256);
        let cpu = info.device_type == wgpu::DeviceType::Cpu;
        let batch = batch::Batch::new(&device, align as u64);
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            features,
            pool: std::rc::Rc::new(RefCell::new(pool::BufferPool::default())),
            pipelines: RefCell::new(pipelines::PipelineCache::default()),
            batch: RefCell::new(batch),
            errors,
            profiler: RefCell::new(None),
            direction: std::cell::Cell::new(work::Direction::Forward),
            // Per-lane vec4 loads become gathers on a CPU adapter (lavapipe runs the invocations
            // of a workgroup as SIMD lanes): 512³ GEMM 8.7 → 5.1 GFLOP/s there.
            vector_loads: std::cell::Cell::new(!cpu),
            f16_gemm: std::cell::Cell::new(false),
            f16_activations: std::cell::Cell::new(false),
            checked_shaders: opts.checked_shaders,
        })
    }

    /// Whether kernels read contiguous, aligned operands as vec4s (on by default except on CPU
    /// adapters such as lavapipe, where it is slower).
    pub fn vector_loads(&self) -> bool {
        self.vector_loads.get()
    }

    pub fn set_vector_loads(&self, on: bool) {
        self.vector_loads.set(on);
    }

    /// Whether GEMMs (pointwise convolutions, linear layers, matmul) run in f16 arithmetic
    /// (shaders/matmul_f16.wgsl).
    pub fn f16_gemm(&self) -> bool {
        self.f16_gemm.get()
    }

    /// Turn f16 GEMMs on or off; on needs an adapter with shader-f16.
    pub fn set_f16_gemm(&self, on: bool) -> Result<()> {
        if on && !self.features.contains(wgpu::Features::SHADER_F16) {
            return Err(Error::bad_setting(
                Field::F16Gemm,
                format!(
                    "needs an adapter with shader-f16, and {} has none; choose one that has it ({}) or run without {}",
                    self.describe(),
                    Field::Adapter,
                    Field::F16Gemm
                ),
            ));
        }
        self.f16_gemm.set(on);
        Ok(())
    }

    /// Whether ops keep the activations their backward needs as f16 (two per 32-bit word,
    /// shaders/half.wgsl) instead of f32: half the memory between forward and backward. Works on
    /// every adapter (WGSL's pack2x16float needs no shader-f16).
    pub fn f16_activations(&self) -> bool {
        self.f16_activations.get()
    }

    pub fn set_f16_activations(&self, on: bool) {
        self.f16_activations.set(on);
    }

    pub fn describe(&self) -> String {
        describe(&self.info)
    }

    /// Largest tensor one binding can hold.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Fails with the first validation error wgpu reported since the last check.
    pub fn check_errors(&self) -> Result<()> {
        let mut errs = self.errors.lock().unwrap();
        if errs.is_empty() {
            return Ok(());
        }
        let msg = errs.join("\n");
        errs.clear();
        Err(Error::Gpu(msg))
    }

    fn pool_handle(&self) -> std::rc::Rc<RefCell<pool::BufferPool>> {
        self.pool.clone()
    }

    /// Bytes held by the buffer pool (in use + cached): flat once a loop has warmed up.
    pub fn pool_bytes(&self) -> u64 {
        self.pool.borrow().total_bytes()
    }

    /// Bytes of buffers in use now (tensors alive, saved activations, optimizer state).
    pub fn live_bytes(&self) -> u64 {
        self.pool.borrow().in_use_bytes()
    }

    /// The most bytes in use at once since the last `reset_peak_bytes` (size classes included).
    pub fn peak_bytes(&self) -> u64 {
        self.pool.borrow().peak_bytes()
    }

    pub fn reset_peak_bytes(&self) {
        self.pool.borrow_mut().reset_peak();
    }
}
