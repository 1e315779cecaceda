//! Pipeline cache: one compiled compute pipeline per (shader, entry point, override constants);
//! the shaders' sources come with their kernels (`kernel::Shader`).

use super::Gpu;
use super::kernel::Shader;
use crate::error::{Error, Result};
use std::collections::HashMap;

type Key = (&'static str, &'static str, Vec<(&'static str, u64)>);

#[derive(Default)]
pub struct PipelineCache {
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    pipelines: HashMap<Key, wgpu::ComputePipeline>,
}

impl Gpu {
    /// The pipeline for `shader::entry` specialised by `constants` (WGSL `override`s), compiled
    /// on first use.
    pub fn pipeline(
        &self,
        shader: &'static Shader,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> Result<wgpu::ComputePipeline> {
        let key: Key = (
            shader.name,
            entry,
            constants.iter().map(|(k, v)| (*k, v.to_bits())).collect(),
        );
        if let Some(p) = self.pipelines.borrow().pipelines.get(&key) {
            return Ok(p.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = {
            let mut cache = self.pipelines.borrow_mut();
            match cache.modules.get(shader.name) {
                Some(m) => m.clone(),
                None => {
                    let desc = wgpu::ShaderModuleDescriptor {
                        label: Some(shader.name),
                        source: wgpu::ShaderSource::Wgsl(shader.source.into()),
                    };
                    // Unchecked only on Vulkan, whose robustBufferAccess (wgpu turns it on)
                    // keeps every storage access inside its binding in hardware or driver;
                    // elsewhere a `select(0.0, src[i], inside)` that reads src[i] past the end
                    // before discarding it would be out of bounds.
                    let unchecked =
                        !self.checked_shaders && self.info.backend == wgpu::Backend::Vulkan;
                    let m = if !unchecked {
                        self.device.create_shader_module(desc)
                    } else {
                        // SAFETY: the project's own shaders, not user code. Every loop has a
                        // finite bound; every private-array index is below the array's length by
                        // construction (each shader states the bound, e.g. depthwise's ROW, and
                        // the Rust side refuses shapes outside it); no integer division by a
                        // value that can be zero; storage accesses are bounded by Vulkan's
                        // robust buffer access. The checks wgpu would add instead (a counter in
                        // every loop, a clamp on every index, a guard on every division) cost
                        // lavapipe up to 2.5× on a depthwise kernel. `--checked-shaders` turns
                        // them back on to debug a kernel.
                        unsafe {
                            self.device.create_shader_module_trusted(
                                desc,
                                wgpu::ShaderRuntimeChecks::unchecked(),
                            )
                        }
                    };
                    cache.modules.insert(shader.name, m.clone());
                    m
                }
            }
        };
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        if let Some(err) = pollster::block_on(scope.pop()) {
            self.pipelines.borrow_mut().modules.remove(shader.name);
            return Err(Error::Gpu(format!(
                "compiling {}::{entry} {constants:?}: {err}",
                shader.name
            )));
        }
        self.pipelines
            .borrow_mut()
            .pipelines
            .insert(key, pipeline.clone());
        Ok(pipeline)
    }
}
