//! Data-parallel training: the ranks of one run, each on its own GPU (or its own share of one),
//! started by `mpirun`. Every rank holds the same weights, trains the same subnets on its own
//! slice of each step's images, and before every update the gradients (and the step's losses)
//! are summed across ranks and divided by their number: one all-reduce of the flattened
//! gradients per step, nothing else changes shape. Rank 0 is the run's only writer (lock,
//! checkpoints, metrics, plots, validation); the others write nothing. A resumed run starts
//! every rank from rank 0's checkpoint (broadcast), so only rank 0 needs the run directory;
//! every rank needs the dataset at the same path. Every epoch starts again from rank 0's state,
//! so ranks whose GPUs round differently cannot drift apart. Batch-norm running statistics are rank 0's,
//! as PyTorch's DDP keeps them (every evaluation recalibrates them anyway).
//!
//! MPI comes in with the `mpi` cargo feature (OpenMPI or MPICH and libclang at build time);
//! without it, a process started as one of several ranks refuses to train rather than train
//! alone into a directory another rank writes.

use super::checkpoint::{Tensors, restore, snapshot};
use crate::gpu::GpuBuffer;
use crate::nn::optim::grad_of;
use crate::nn::{Module, Sgd};
use crate::{Engine, Error, Result};
use std::rc::Rc;

/// The ranks of a run and the two collectives training needs.
pub trait Collective {
    /// This process's rank, 0 ..size.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// This process's rank among those on its own host (which of the host's GPUs it takes).
    fn local_rank(&self) -> usize {
        0
    }
    /// Element-wise sum across ranks, in place; every rank receives the same sums.
    fn sum(&self, v: &mut [f32]);
    /// [`Collective::sum`] in f64 (pooling results each rank computed: the others add zeros).
    fn sum_f64(&self, v: &mut [f64]);
    /// Rank 0's bytes to every rank, in place (the others' are replaced, lengths included).
    fn broadcast(&self, v: &mut Vec<u8>);
    /// "rank 1 of 4 (MPI)".
    fn describe(&self) -> String {
        format!("rank {} of {}", self.rank(), self.size())
    }
    /// Stop every rank: this one failed, and the others would wait for it forever (MPI's
    /// finalize, run when this process ends normally, waits for them). Returns only when alone.
    fn abort(&self, _code: i32) {}
}

/// One process, no communication.
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn sum(&self, _: &mut [f32]) {}
    fn sum_f64(&self, _: &mut [f64]) {}
    fn broadcast(&self, _: &mut Vec<u8>) {}
}

/// The variables a launcher sets to the number of ranks.
const LAUNCH_VARS: &str = "OMPI_COMM_WORLD_SIZE or PMI_SIZE";

/// The world size the launcher gave this process (OpenMPI's `mpirun`, or a PMI launcher such as
/// MPICH's hydra or Slurm's `srun --mpi=pmi2`); None when not launched as a rank. (Not a job's
/// task count such as SLURM_NTASKS: a job script's single commands are not ranks.)
pub fn launched() -> Option<usize> {
    LAUNCH_VARS
        .split(" or ")
        .find_map(|n| std::env::var(n).ok()?.trim().parse::<usize>().ok())
}

/// The ranks this process belongs to: MPI's world when launched as one of several ranks, else
/// [`Solo`]. With several ranks, a panic on this one aborts the process (the launcher then
/// stops the others) instead of unwinding into MPI's finalize, which would wait for ranks that
/// wait for this one.
pub fn join() -> Result<Rc<dyn Collective>> {
    match launched() {
        None | Some(0 | 1) => Ok(Rc::new(Solo)),
        Some(n) => {
            let comm = join_mpi(n)?;
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                hook(info);
                std::process::abort();
            }));
            Ok(comm)
        }
    }
}

#[cfg(not(feature = "mpi"))]
fn join_mpi(n: usize) -> Result<Rc<dyn Collective>> {
    Err(Error::Invalid(format!(
        "started as one of {n} MPI ranks ({LAUNCH_VARS} is set), but this tinynas was built \
         without MPI; build it with \
         `cargo build --release --features mpi` (needs libopenmpi-dev and libclang-dev), or run \
         one process"
    )))
}

#[cfg(feature = "mpi")]
fn join_mpi(n: usize) -> Result<Rc<dyn Collective>> {
    let m = mpi_ranks::Mpi::init()?;
    if m.size() != n {
        return Err(Error::Invalid(format!(
            "{LAUNCH_VARS} says {n} ranks but MPI's world has {}: a process not started by \
             mpirun must not have it set (unset it), or tinynas was built against another MPI \
             than the mpirun that started it",
            m.size()
        )));
    }
    Ok(Rc::new(m))
}

#[cfg(feature = "mpi")]
mod mpi_ranks {
    use super::Collective;
    use crate::{Error, Result};
    use mpi::collective::SystemOperation;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;

    /// MPI's world. Dropping it finalizes MPI; a process that exits with an error skips that,
    /// and the launcher then stops the other ranks instead of leaving them waiting.
    pub struct Mpi {
        world: SimpleCommunicator,
        local_rank: usize,
        _universe: mpi::environment::Universe,
    }

    impl Mpi {
        pub fn init() -> Result<Mpi> {
            let universe = mpi::initialize()
                .ok_or_else(|| Error::Invalid("MPI was initialized twice in one process".into()))?;
            let world = universe.world();
            let local_rank = world.split_shared(world.rank()).rank() as usize;
            Ok(Mpi {
                world,
                local_rank,
                _universe: universe,
            })
        }
    }

    impl Collective for Mpi {
        fn rank(&self) -> usize {
            self.world.rank() as usize
        }
        fn size(&self) -> usize {
            self.world.size() as usize
        }
        fn local_rank(&self) -> usize {
            self.local_rank
        }
        fn sum(&self, v: &mut [f32]) {
            // MPI counts are 32-bit: large vectors go in pieces.
            for chunk in v.chunks_mut(1 << 28) {
                let send = chunk.to_vec();
                self.world
                    .all_reduce_into(&send[..], chunk, SystemOperation::sum());
            }
        }
        fn sum_f64(&self, v: &mut [f64]) {
            for chunk in v.chunks_mut(1 << 27) {
                let send = chunk.to_vec();
                self.world
                    .all_reduce_into(&send[..], chunk, SystemOperation::sum());
            }
        }
        fn broadcast(&self, v: &mut Vec<u8>) {
            let root = self.world.process_at_rank(0);
            let mut len = v.len() as u64;
            root.broadcast_into(&mut len);
            v.resize(len as usize, 0);
            for chunk in v.chunks_mut(1 << 30) {
                root.broadcast_into(chunk);
            }
        }
        fn describe(&self) -> String {
            format!("rank {} of {} (MPI)", self.rank(), self.size())
        }
        fn abort(&self, code: i32) {
            self.world.abort(code)
        }
    }
}

/// Sums a step's gradients (and its losses) across ranks and divides them by the number of
/// ranks: the mean gradient of the step's whole batch, as one process would have computed it
/// with every rank's images (up to float rounding, and batch norm's per-rank statistics).
pub struct GradSync {
    flat: Rc<GpuBuffer>,
    total: usize,
}

impl GradSync {
    pub fn new(e: &Engine, sgd: &Sgd) -> Result<GradSync> {
        let total = sgd.params.iter().map(|p| p.tensor.numel()).sum();
        Ok(GradSync {
            flat: e.gpu.alloc("grad.all-reduce", total)?,
            total,
        })
    }

    /// All-reduce `sgd`'s gradients and `losses` (each rank's own; the mean across ranks on
    /// return). One read of every gradient, one write back.
    pub fn mean(
        &self,
        e: &Engine,
        sgd: &Sgd,
        losses: &mut [f32],
        c: &dyn Collective,
    ) -> Result<()> {
        if c.size() == 1 {
            return Ok(());
        }
        let mut at = 0;
        for p in &sgd.params {
            let n = p.tensor.numel();
            e.gpu.copy(grad_of(p)?, 0, &self.flat, at, n);
            at += n;
        }
        let mut v = e.gpu.read(&self.flat, 0, self.total)?;
        v.extend_from_slice(losses);
        let t = std::time::Instant::now();
        c.sum(&mut v);
        e.gpu.cpu_span("all-reduce (gradients)", t);
        let k = 1.0 / c.size() as f32;
        v.iter_mut().for_each(|x| *x *= k);
        losses.copy_from_slice(&v[self.total..]);
        e.gpu.write(&self.flat, 0, &v[..self.total])?;
        let mut at = 0;
        for p in &sgd.params {
            let n = p.tensor.numel();
            e.gpu.copy(&self.flat, at, grad_of(p)?, 0, n);
            at += n;
        }
        Ok(())
    }
}

/// Every rank takes rank 0's weights, batch-norm statistics, momentum and `step`: at the start
/// of a run (a fresh one or a resumed one, which only rank 0 has read) and at every epoch's end.
pub fn broadcast_state(
    e: &Engine,
    net: &impl Module,
    sgd: &Sgd,
    step: &mut usize,
    c: &dyn Collective,
) -> Result<()> {
    if c.size() == 1 {
        return Ok(());
    }
    let mine = snapshot(e, net, sgd)?;
    let mut bytes = Vec::new();
    if c.rank() == 0 {
        bytes.extend_from_slice(&(*step as u64).to_le_bytes());
        for (_, _, v) in &mine {
            bytes.extend_from_slice(bytemuck::cast_slice(v));
        }
    }
    c.broadcast(&mut bytes);
    if c.rank() == 0 {
        return Ok(());
    }
    let want = 8 + mine.iter().map(|t| t.2.len() * 4).sum::<usize>();
    if bytes.len() != want {
        return Err(Error::Invalid(format!(
            "{}: rank 0 sent {} bytes of state, this rank's supernet holds {want}; every rank \
             must run the same tinynas with the same settings",
            c.describe(),
            bytes.len()
        )));
    }
    *step = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut at = 8;
    let mut t = Tensors::new();
    for (name, shape, v) in mine {
        let n = v.len() * 4;
        t.insert(
            name,
            (shape, bytemuck::pod_collect_to_vec(&bytes[at..at + n])),
        );
        at += n;
    }
    restore(e, net, sgd, t)
}

/// What every rank must share with rank 0 before they train together: tinynas's version, the
/// run's settings, the options that decide when a rank stops, the data (its sizes and a
/// fingerprint of every pixel and label) and the layout of the state [`broadcast_state`] sends.
pub fn what_ranks_share(
    config_json: &serde_json::Value,
    (max_steps, checkpoint_every): (Option<usize>, usize),
    data: &super::data::RunData,
    net: &impl Module,
    sgd: &Sgd,
) -> serde_json::Value {
    use std::hash::Hasher;
    let mut pixels = std::collections::hash_map::DefaultHasher::new();
    for d in [&*data.train, &data.val, &data.test] {
        pixels.write(&d.images);
        pixels.write(&d.labels);
    }
    serde_json::json!({
        "tinynas version": env!("CARGO_PKG_VERSION"),
        "settings": config_json,
        "--max-steps": max_steps,
        "--checkpoint-every": checkpoint_every,
        "data": crate::data::describe_splits(&data.train, &data.test),
        "data content": format!("{:016x}", pixels.finish()),
        "parameter layout": format!("{:016x}", layout(net, sgd)),
    })
}

/// A fingerprint of the names and shapes of the state [`broadcast_state`] sends, in order.
fn layout(net: &impl Module, sgd: &Sgd) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in net.param_list() {
        (p.name, p.tensor.shape()).hash(&mut h);
    }
    for b in net.buffer_list() {
        (b.name, b.tensor.shape()).hash(&mut h);
    }
    sgd.params.len().hash(&mut h);
    h.finish()
}

/// Every rank's `what` (its settings, options and data: [`what_ranks_share`]) must be rank 0's:
/// a rank started with other options, on another host with other data or with another binary
/// stops the run before it trains, naming what differs.
pub fn check_same(what: &serde_json::Value, c: &dyn Collective) -> Result<()> {
    if c.size() == 1 {
        return Ok(());
    }
    let mut bytes = serde_json::to_vec(what).expect("a JSON value serialises");
    c.broadcast(&mut bytes);
    let theirs: serde_json::Value = crate::io::parse_json(
        &String::from_utf8_lossy(&bytes),
        &format!("{}: rank 0 sent unreadable settings", c.describe()),
    )?;
    // Every rank learns how many differ, so all of them stop with the same refusal (a rank that
    // matches would otherwise go on into the first gradient sum and die there, by a signal).
    let mut differing = [f64::from(u8::from(theirs != *what))];
    c.sum_f64(&mut differing);
    if differing[0] == 0.0 {
        return Ok(());
    }
    if theirs == *what {
        return Err(Error::RanksDiffer {
            differing: differing[0] as usize,
            msg: format!(
                "{} of the {} ranks differ from rank 0 in their options, data or tinynas (their messages name what); start every rank with the same",
                differing[0],
                c.size()
            ),
        });
    }
    // `differing_fields` names `settings.space.resolutions[0]`; JSON pointers say
    // `/settings/space/resolutions/0`.
    let at = |v: &serde_json::Value, path: &str| {
        let pointer = format!("/{}", path.replace(['.', '['], "/").replace(']', ""));
        v.pointer(&pointer)
            .map_or("null".to_string(), |x| x.to_string())
    };
    let fields = super::compare::differing_fields(&theirs, what);
    let shown: Vec<String> = fields
        .iter()
        .take(4)
        .map(|f| format!("{f}: rank 0 {}, here {}", at(&theirs, f), at(what, f)))
        .collect();
    Err(Error::RanksDiffer {
        differing: differing[0] as usize,
        msg: format!(
            "this rank differs from rank 0 in {} ({}{}); start every rank with the same options, data and tinynas",
            fields.join(", "),
            shown.join("; "),
            if fields.len() > 4 { "; …" } else { "" }
        ),
    })
}
