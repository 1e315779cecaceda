//! What a kernel is, for the GPU layer: a shader's source, its uniform parameters, its storage
//! bindings and override constants, typed. The kernels themselves belong to their op families
//! (`autograd::ops::*`): each family's file declares its shader (`include_str!`), its `struct P`
//! as a `params!` struct, its bindings as `Slot`s, its overrides as an `overrides!` struct, its
//! flags and its entry points as `Kernel` constants, and lists them in a `Family` that a test
//! (tests/kernels.rs) holds to the WGSL both ways. This layer keeps only these types and the
//! pipeline cache; it names no op.

use std::marker::PhantomData;

/// A WGSL module: its name (for the pipeline cache and the profiler) and source.
#[derive(Debug)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

/// A shader's uniform parameters (its `struct P`), field by field.
pub trait Params: bytemuck::Pod {
    /// (name, WGSL type) of each field, in order.
    const FIELDS: &'static [(&'static str, &'static str)];
}

/// A `#[repr(C)]` Pod struct equal to a shader's `struct P` (checked by tests/kernels.rs).
#[macro_export]
macro_rules! params {
    ($(#[$m:meta])* $name:ident { $($f:ident : $t:ident),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $(pub $f: $t),*
        }
        impl $crate::gpu::kernel::Params for $name {
            const FIELDS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($f), stringify!($t))),*];
        }
        const _: () = assert!(
            std::mem::size_of::<$name>() <= $crate::gpu::PARAM_BYTES as usize,
            "parameters larger than a dispatch's uniform block"
        );
    };
}

/// A storage binding of a shader: the WGSL variable and its `@binding` number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub name: &'static str,
    pub binding: u32,
}

/// A family's storage bindings as `Slot` constants, and `SLOTS` listing them.
#[macro_export]
macro_rules! slots {
    ($($name:ident = $var:ident @ $binding:literal),* $(,)?) => {
        $(pub const $name: $crate::gpu::kernel::Slot =
            $crate::gpu::kernel::Slot { name: stringify!($var), binding: $binding };)*
        pub const SLOTS: &[$crate::gpu::kernel::Slot] = &[$($name),*];
    };
}

/// A kernel's WGSL `override` constants, typed: each `None` keeps the shader's default.
pub trait Overrides {
    /// The WGSL names of the constants.
    const NAMES: &'static [&'static str];
    /// (name, value) of the constants set.
    fn values(&self) -> Vec<(&'static str, f64)>;
}

/// No override constants.
impl Overrides for () {
    const NAMES: &'static [&'static str] = &[];
    fn values(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

/// A struct of `Option<u32>` fields, one per WGSL `override` (named in capitals in the shader).
#[macro_export]
macro_rules! overrides {
    ($(#[$m:meta])* $name:ident { $($f:ident = $wgsl:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $(pub $f: Option<u32>),*
        }
        impl $crate::gpu::kernel::Overrides for $name {
            const NAMES: &'static [&'static str] = &[$(stringify!($wgsl)),*];
            fn values(&self) -> Vec<(&'static str, f64)> {
                let mut v = Vec::new();
                $(if let Some(x) = self.$f {
                    v.push((stringify!($wgsl), x as f64));
                })*
                v
            }
        }
    };
}

/// An entry point of a shader, typed by the parameters it reads and the overrides it takes.
pub struct Kernel<P: Params, O: Overrides = ()> {
    pub shader: &'static Shader,
    pub entry: &'static str,
    types: PhantomData<(P, O)>,
}

impl<P: Params, O: Overrides> Clone for Kernel<P, O> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: Params, O: Overrides> std::marker::Copy for Kernel<P, O> {}

impl<P: Params, O: Overrides> Kernel<P, O> {
    pub const fn new(shader: &'static Shader, entry: &'static str) -> Kernel<P, O> {
        Kernel {
            shader,
            entry,
            types: PhantomData,
        }
    }
}

/// What an op family declares about its kernels, for the test that holds it to the WGSL: its
/// shaders (the first declares `struct P`; others include it), the fields of its `struct P`,
/// its flags (`const NAME: u32 = V;`), storage bindings, override constants and entry points.
pub struct Family {
    pub shaders: &'static [&'static Shader],
    pub params: &'static [(&'static str, &'static str)],
    pub flags: &'static [(&'static str, u32)],
    pub slots: &'static [Slot],
    pub overrides: &'static [&'static str],
    /// (shader, entry point) of each kernel.
    pub kernels: &'static [(&'static str, &'static str)],
}

/// A family's entry points as `Kernel` constants (`NAME: Params[, Overrides] = SHADER::"entry"`),
/// and `KERNELS` listing (shader, entry) of each for its `Family`.
#[macro_export]
macro_rules! kernels {
    ($($name:ident : $p:ty $(, $o:ty)? = $shader:ident :: $entry:literal;)*) => {
        $(pub const $name: $crate::gpu::kernel::Kernel<$p $(, $o)?> =
            $crate::gpu::kernel::Kernel::new(&$shader, $entry);)*
        pub const KERNELS: &[(&str, &str)] = &[$(($shader.name, $entry)),*];
    };
}
