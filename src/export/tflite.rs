//! The .tflite writer: a quantized graph as a TFLite flatbuffer (schema version 3, identifier
//! `TFL3`), built with the `flatbuffers` crate's table builder. Field ids and enum values are
//! those of TFLite's schema (`tensorflow/compiler/mlir/lite/schema/schema.fbs`); a table's field
//! id i lives at vtable offset 4 + 2i. Constant buffers are 16-byte aligned, as the schema asks.

use super::graph::{OpKind, Padding};
use super::quant::QGraph;
use flatbuffers::{FlatBufferBuilder, Push, PushAlignment, WIPOffset};

/// The schema's BuiltinOperator values.
mod op {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const PAD: i32 = 34;
}

/// The schema's BuiltinOptions union members.
mod options {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const ADD: u8 = 11;
    pub const PAD: u8 = 22;
}

const TENSOR_INT32: i8 = 2;
const TENSOR_INT8: i8 = 9;
const PADDING_SAME: i8 = 0;
const PADDING_VALID: i8 = 1;
const ACT_NONE: i8 = 0;
const ACT_RELU6: i8 = 3;
const SCHEMA_VERSION: u32 = 3;
/// The longest description a model carries (`mcu::image::TfliteCounter` counts this much).
pub const DESCRIPTION_BYTES: usize = 512;

/// The vtable offset of field `id`.
const fn f(id: u16) -> u16 {
    4 + 2 * id
}

/// A zero-sized push that aligns what follows (in the buffer: what precedes) to 16 bytes.
struct Align16;
impl Push for Align16 {
    type Output = ();
    unsafe fn push(&self, _dst: &mut [u8], _written_len: usize) {}
    fn size() -> usize {
        0
    }
    fn alignment() -> PushAlignment {
        PushAlignment::new(16)
    }
}

/// A constant tensor's contents before it is written.
struct Constant {
    name: String,
    shape: Vec<i32>,
    ty: i8,
    data: Vec<u8>,
    scale: Vec<f32>,
    quantized_dimension: i32,
}

/// (operator, version) of an op kind, and its options.
fn code(kind: &OpKind) -> (i32, i32) {
    match kind {
        OpKind::Conv {
            depthwise: false, ..
        } => (op::CONV_2D, 3),
        OpKind::Conv {
            depthwise: true, ..
        } => (op::DEPTHWISE_CONV_2D, 3),
        OpKind::Pad { .. } => (op::PAD, 2),
        OpKind::Add => (op::ADD, 2),
        OpKind::AvgPool => (op::AVERAGE_POOL_2D, 2),
        OpKind::FullyConnected => (op::FULLY_CONNECTED, 4),
    }
}

fn bytes_i32(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `q` as a .tflite flatbuffer.
pub fn write(q: &QGraph, description: &str) -> Vec<u8> {
    let g = &q.graph;
    let mut b = FlatBufferBuilder::with_capacity(1 << 16);

    // Constant tensors, after the activations (tensor index = g.shapes.len() + i).
    let mut constants: Vec<Constant> = Vec::new();
    let mut op_inputs: Vec<Vec<i32>> = Vec::new();
    for (o, qo) in g.ops.iter().zip(&q.ops) {
        let mut inputs: Vec<i32> = o.inputs.iter().map(|&i| i as i32).collect();
        let mut push = |c: Constant, inputs: &mut Vec<i32>| {
            inputs.push((g.shapes.len() + constants.len()) as i32);
            constants.push(c);
        };
        let input_scale = q.params[o.inputs[0]].scale;
        match &o.kind {
            OpKind::Conv {
                depthwise, kernel, ..
            } => {
                let (cout, k) = (qo.bias.len() as i32, *kernel as i32);
                let cin = g.shapes[o.inputs[0]].c as i32;
                let shape = if *depthwise {
                    vec![1, k, k, cout]
                } else {
                    vec![cout, k, k, cin]
                };
                push(
                    Constant {
                        name: format!("{}/weights", o.name),
                        shape,
                        ty: TENSOR_INT8,
                        data: qo.weight.iter().map(|&v| v as u8).collect(),
                        scale: qo.weight_scale.clone(),
                        quantized_dimension: if *depthwise { 3 } else { 0 },
                    },
                    &mut inputs,
                );
            }
            OpKind::FullyConnected => {
                let cin = g.shapes[o.inputs[0]].len() as i32;
                push(
                    Constant {
                        name: format!("{}/weights", o.name),
                        shape: vec![qo.bias.len() as i32, cin],
                        ty: TENSOR_INT8,
                        data: qo.weight.iter().map(|&v| v as u8).collect(),
                        scale: qo.weight_scale.clone(),
                        quantized_dimension: 0,
                    },
                    &mut inputs,
                );
            }
            OpKind::Pad { before, after } => {
                let (p, a) = (*before as i32, *after as i32);
                push(
                    Constant {
                        name: format!("{}/paddings", o.name),
                        shape: vec![4, 2],
                        ty: TENSOR_INT32,
                        data: bytes_i32(&[0, 0, p, a, p, a, 0, 0]),
                        scale: Vec::new(),
                        quantized_dimension: 0,
                    },
                    &mut inputs,
                );
            }
            OpKind::Add | OpKind::AvgPool => {}
        }
        if matches!(o.kind, OpKind::Conv { .. } | OpKind::FullyConnected) {
            // The runtimes read a bias's scale only where it is per tensor (FULLY_CONNECTED
            // checks it); a convolution's per-channel bias scales would be 12 bytes of flash
            // per channel for nothing.
            let scale = if matches!(o.kind, OpKind::FullyConnected) {
                vec![(input_scale as f64 * qo.weight_scale[0] as f64) as f32]
            } else {
                Vec::new()
            };
            push(
                Constant {
                    name: format!("{}/bias", o.name),
                    shape: vec![qo.bias.len() as i32],
                    ty: TENSOR_INT32,
                    data: bytes_i32(&qo.bias),
                    scale,
                    quantized_dimension: 0,
                },
                &mut inputs,
            );
        }
        op_inputs.push(inputs);
    }

    // Buffers: 0 is the empty sentinel, constant i has buffer i + 1.
    let mut buffers = vec![{
        let t = b.start_table();
        b.end_table(t)
    }];
    for c in &constants {
        b.push(Align16);
        for _ in 0..(16 - c.data.len() % 16) % 16 {
            b.push(0u8);
        }
        let data = b.create_vector(&c.data);
        let t = b.start_table();
        b.push_slot_always(f(0), data);
        buffers.push(b.end_table(t));
    }

    // Tensors: the activations, then the constants.
    let mut tensors = Vec::new();
    let names = tensor_names(q);
    for (i, s) in g.shapes.iter().enumerate() {
        let shape: Vec<i32> = if g
            .ops
            .iter()
            .any(|o| o.output == i && o.kind == OpKind::FullyConnected)
        {
            vec![1, s.c as i32]
        } else {
            vec![1, s.h as i32, s.w as i32, s.c as i32]
        };
        let p = q.params[i];
        let qp = quant(&mut b, &[p.scale], &[p.zero_point as i64], 0);
        tensors.push(tensor(&mut b, &shape, TENSOR_INT8, 0, &names[i], Some(qp)));
    }
    for (i, c) in constants.iter().enumerate() {
        let qp = (!c.scale.is_empty()).then(|| {
            quant(
                &mut b,
                &c.scale,
                &vec![0; c.scale.len()],
                c.quantized_dimension,
            )
        });
        let t = tensor(&mut b, &c.shape, c.ty, i as u32 + 1, &c.name, qp);
        tensors.push(t);
    }

    // Operator codes, in order of first use.
    let mut codes: Vec<(i32, i32)> = Vec::new();
    let mut operators = Vec::new();
    for (o, inputs) in g.ops.iter().zip(&op_inputs) {
        let c = code(&o.kind);
        let index = codes.iter().position(|&x| x == c).unwrap_or_else(|| {
            codes.push(c);
            codes.len() - 1
        });
        let (opt_type, opts) = builtin_options(&mut b, &o.kind, &g.shapes[o.inputs[0]]);
        let ins = b.create_vector(inputs);
        let outs = b.create_vector(&[o.output as i32]);
        let t = b.start_table();
        b.push_slot(f(0), index as u32, 0);
        b.push_slot_always(f(1), ins);
        b.push_slot_always(f(2), outs);
        b.push_slot(f(3), opt_type, 0);
        b.push_slot_always(f(4), opts);
        operators.push(b.end_table(t));
    }
    let codes: Vec<_> = codes
        .iter()
        .map(|&(code, version)| {
            let t = b.start_table();
            b.push_slot(f(0), code as i8, 0);
            b.push_slot(f(2), version, 1);
            b.push_slot(f(3), code, 0);
            b.end_table(t)
        })
        .collect();

    let tensors = b.create_vector(&tensors);
    let sg_inputs = b.create_vector(&[0i32]);
    let sg_outputs = b.create_vector(&[g.output() as i32]);
    let operators = b.create_vector(&operators);
    let sg_name = b.create_string("main");
    let sg = {
        let t = b.start_table();
        b.push_slot_always(f(0), tensors);
        b.push_slot_always(f(1), sg_inputs);
        b.push_slot_always(f(2), sg_outputs);
        b.push_slot_always(f(3), operators);
        b.push_slot_always(f(4), sg_name);
        b.end_table(t)
    };
    let codes = b.create_vector(&codes);
    let subgraphs = b.create_vector(&[sg]);
    // At most DESCRIPTION_BYTES (the flash the tflm scheduler counts leaves room for that).
    let mut end = description.len().min(DESCRIPTION_BYTES);
    while !description.is_char_boundary(end) {
        end -= 1;
    }
    let desc = b.create_string(&description[..end]);
    let buffers = b.create_vector(&buffers);
    let model = {
        let t = b.start_table();
        b.push_slot(f(0), SCHEMA_VERSION, 0);
        b.push_slot_always(f(1), codes);
        b.push_slot_always(f(2), subgraphs);
        b.push_slot_always(f(3), desc);
        b.push_slot_always(f(4), buffers);
        b.end_table(t)
    };
    b.finish(model, Some("TFL3"));
    b.finished_data().to_vec()
}

/// Readable names of the activation tensors: the input, then each op's output by its layer.
pub fn tensor_names(q: &QGraph) -> Vec<String> {
    let mut names = vec!["input".to_string(); q.graph.shapes.len()];
    for o in &q.graph.ops {
        names[o.output] = o.name.clone();
    }
    names
}

type Table = WIPOffset<flatbuffers::TableFinishedWIPOffset>;

/// QuantizationParameters: scale, zero_point, quantized_dimension.
fn quant(b: &mut FlatBufferBuilder<'_>, scale: &[f32], zp: &[i64], dim: i32) -> Table {
    let s = b.create_vector(scale);
    let z = b.create_vector(zp);
    let t = b.start_table();
    b.push_slot_always(f(2), s);
    b.push_slot_always(f(3), z);
    b.push_slot(f(6), dim, 0);
    b.end_table(t)
}

fn tensor<'a>(
    b: &mut FlatBufferBuilder<'a>,
    shape: &[i32],
    ty: i8,
    buffer: u32,
    name: &str,
    quantization: Option<Table>,
) -> Table {
    let shape = b.create_vector(shape);
    let name = b.create_string(name);
    let t = b.start_table();
    b.push_slot_always(f(0), shape);
    b.push_slot(f(1), ty, 0);
    b.push_slot(f(2), buffer, 0);
    b.push_slot_always(f(3), name);
    if let Some(q) = quantization {
        b.push_slot_always(f(4), q);
    }
    b.end_table(t)
}

/// The BuiltinOptions union member of an op and its table.
fn builtin_options<'a>(
    b: &mut FlatBufferBuilder<'a>,
    kind: &OpKind,
    input: &super::graph::Shape,
) -> (u8, WIPOffset<flatbuffers::TableFinishedWIPOffset>) {
    let t = b.start_table();
    let ty = match kind {
        OpKind::Conv {
            depthwise,
            stride,
            padding,
            relu6,
            ..
        } => {
            let pad = match padding {
                Padding::Same => PADDING_SAME,
                Padding::Valid => PADDING_VALID,
            };
            let act = if *relu6 { ACT_RELU6 } else { ACT_NONE };
            b.push_slot_always(f(0), pad);
            b.push_slot_always(f(1), *stride as i32);
            b.push_slot_always(f(2), *stride as i32);
            if *depthwise {
                b.push_slot_always(f(3), 1i32);
                b.push_slot_always(f(4), act);
                options::DEPTHWISE_CONV_2D
            } else {
                b.push_slot_always(f(3), act);
                options::CONV_2D
            }
        }
        OpKind::AvgPool => {
            b.push_slot_always(f(0), PADDING_VALID);
            b.push_slot_always(f(1), 1i32);
            b.push_slot_always(f(2), 1i32);
            b.push_slot_always(f(3), input.w as i32);
            b.push_slot_always(f(4), input.h as i32);
            b.push_slot_always(f(5), ACT_NONE);
            options::POOL_2D
        }
        OpKind::FullyConnected => {
            b.push_slot_always(f(0), ACT_NONE);
            options::FULLY_CONNECTED
        }
        OpKind::Add => {
            b.push_slot_always(f(0), ACT_NONE);
            options::ADD
        }
        OpKind::Pad { .. } => options::PAD,
    };
    (ty, b.end_table(t))
}
