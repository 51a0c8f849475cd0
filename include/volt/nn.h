/* volt/nn.h: the nn layer — modules (parameters, buffers, children,
 * train/eval mode, state dicts, hyperparameters), layers, initialisers.
 *
 * A module is a struct whose first member is a volt_module. A user's own
 * module is initialised with volt_module_init (it may live on the stack or
 * inside another struct); layers are created with volt_<layer>_new(parent,
 * name, ...), which registers them as a child of `parent` (NULL: standalone).
 * Parameters, buffers and children belong to their module: volt_module_free
 * frees them all, children first. Parameter and buffer tensors are
 * caller-owned (not in any scope) and live as long as their module.
 *
 * Names: a parameter "weight" of child "fc1" of child "encoder" is
 * "encoder.fc1.weight" in state dicts and lookups. Local names may not be
 * empty, contain '.', or repeat within one module. */
#ifndef VOLT_NN_H
#define VOLT_NN_H

#include "volt/autograd.h"
#include "volt/core.h"
#include "volt/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct volt_module volt_module;
/* The training hooks of a module (training_step, configure_optimizers, ...)
 * are defined by the train layer (volt/train.h); nn only carries the pointer. */
typedef struct volt_module_ops volt_module_ops;

/* What a layer type supplies: its name, how to run it (for Sequential and
 * generic callers) and how to free its own extra state. */
typedef struct {
    const char *type_name; /* "Linear", "Conv2d", ... */
    /* y = layer(x); NULL for layers that take other inputs. */
    volt_tensor *(*forward)(volt_module *self, const volt_tensor *x);
    /* Frees what the layer allocated beyond parameters, buffers and children
     * (caches, primitives); may be NULL. Does not free the struct itself. */
    void (*destroy)(volt_module *self);
    /* Size of the layer's struct (volt_module first), for heap layers. */
    size_t size;
} volt_module_class;

typedef struct volt_module_entry volt_module_entry; /* private */
typedef struct volt_hparam volt_hparam;             /* private */

struct volt_module {
    const volt_module_ops *ops;   /* training hooks; NULL for plain layers */
    const volt_module_class *cls; /* layer type; NULL for user modules */
    /* private: */
    char *name;
    volt_module *parent;
    bool training;
    bool heap; /* created by volt_module_new: freed with its parent */
    volt_module_entry *params, *buffers, *children;
    int n_params, n_buffers, n_children;
    int cap_params, cap_buffers, cap_children;
    volt_hparam *hparams;
    int n_hparams, cap_hparams;
    volt_tensor **flat_params; /* cache for volt_module_parameters */
    char **flat_names;
    int64_t n_flat;
    bool flat_valid;
};

/* Prepares a module living in caller memory (zeroes it, training mode on). */
void volt_module_init(volt_module *m, const volt_module_ops *ops);
/* Allocates a zeroed module of cls->size bytes, initialises it and registers
 * it as `name` under parent (parent NULL: standalone, freed with
 * volt_module_free). Returns NULL with an error on a bad name. For layer
 * constructors. */
volt_module *volt_module_new(volt_module *parent, const char *name, const volt_module_class *cls);
/* Frees parameters, buffers, hyperparameters and children (layers created by
 * volt_module_new entirely). A module from volt_module_init keeps its own
 * struct; one from volt_module_new that has no parent is freed too. */
void volt_module_free(volt_module *m);

/* Registers `t` as a parameter: takes it out of any scope (the module owns
 * it now), sets requires_grad (floating dtypes only). Returns t, or NULL with
 * an error (bad or repeated name; t freed). */
volt_tensor *volt_module_add_parameter(volt_module *m, const char *name, volt_tensor *t);
/* Registers `t` as a buffer (running statistics, ...): owned by the module,
 * no gradient; persistent buffers appear in state dicts. */
volt_tensor *volt_module_add_buffer(volt_module *m, const char *name, volt_tensor *t,
                                    bool persistent);
/* Replaces the tensor of parameter or buffer `name` of m (local name), for
 * layers that reallocate; the old tensor is freed. */
volt_status volt_module_replace(volt_module *m, const char *name, volt_tensor *t);
/* Converts every floating parameter and buffer of m and its descendants to
 * the floating `dtype` (torch's module.to(dtype); precision "bf16-true" casts
 * with VOLT_BF16), in place like volt_module_to_device: each tensor keeps
 * its identity (volt_tensor_set_data; requires_grad kept, gradient
 * dropped), so tensors fetched earlier and optimizers built over the
 * parameters see the new dtype (an optimizer's state, made at its first
 * step, must not exist yet: cast before training); integer buffers stay.
 * Errors: out of memory; tensors converted before a failure stay so. */
volt_status volt_module_to_dtype(volt_module *m, volt_dtype dtype);
/* Moves every parameter and buffer of m and its descendants to `device`
 * (torch's module.to(device)), in place: each tensor keeps its identity
 * (volt_tensor_set_data), so optimizers built over the parameters before
 * stay valid; gradients are dropped. Errors: a device that cannot be used
 * (volt_device_check's message), out of memory; tensors moved before a
 * failure stay moved. */
volt_status volt_module_to_device(volt_module *m, volt_device device);
/* Registers an existing module as a child (a user's sub-module struct; it is
 * not freed with the parent unless it came from volt_module_new). */
volt_status volt_module_add_child(volt_module *parent, const char *name, volt_module *child);

/* Looks up a parameter or buffer by dotted name ("encoder.fc1.weight");
 * NULL (no error recorded) if absent. */
volt_tensor *volt_module_get(const volt_module *m, const char *dotted_name);
/* Looks up a child by dotted name; NULL if absent. */
volt_module *volt_module_child(const volt_module *m, const char *dotted_name);
const char *volt_module_name(const volt_module *m); /* local name; "" for a root */

/* Every parameter of m and its descendants, in registration order (own
 * parameters first, then each child's, depth first), with dotted names. The
 * arrays belong to the module and stay valid until its parameters change. */
typedef struct {
    int64_t count;
    volt_tensor *const *tensors;
    const char *const *names;
} volt_params;
volt_params volt_module_parameters(volt_module *m);
/* Number of parameter elements (all, or only those requiring grad). */
int64_t volt_module_num_parameters(volt_module *m, bool trainable_only);

/* requires_grad off (freeze) / on (unfreeze) for every parameter below m. */
void volt_module_freeze(volt_module *m);
void volt_module_unfreeze(volt_module *m);
/* Train (true) or eval (false) mode for m and all its descendants. */
void volt_module_train(volt_module *m, bool training);
bool volt_module_is_training(const volt_module *m);
/* Clears the gradient of every parameter (set to none). */
void volt_module_zero_grad(volt_module *m);
/* Runs cls->forward; error for a module without one. */
volt_tensor *volt_module_forward(volt_module *m, const volt_tensor *x);

/* ------------------------------------------------------------ state dicts */

/* A list of (dotted name, tensor): parameters then persistent buffers, in
 * registration order. The tensors are the module's own (not copies); the
 * list itself is freed with volt_state_dict_free. */
typedef struct {
    int64_t count;
    char **names;
    volt_tensor **tensors;
    bool owns_tensors; /* true for dicts read from files */
} volt_state_dict;

volt_state_dict *volt_module_state_dict(volt_module *m);
void volt_state_dict_free(volt_state_dict *sd);
/* A tensor of the dict by name; NULL if absent. */
volt_tensor *volt_state_dict_get(const volt_state_dict *sd, const char *name);

/* What a load did not match. Strings are owned by the report. */
typedef struct {
    int64_t n_missing, n_unexpected, n_mismatched;
    char **missing;    /* in the module, not in the dict */
    char **unexpected; /* in the dict, not in the module */
    char **mismatched; /* in both with other shapes: "fc1.weight: [10,5] vs [10,4]" */
} volt_load_report;
void volt_load_report_free(volt_load_report *r);

/* Copies the dict's values into m's parameters and buffers (converting
 * dtype). strict: any missing, unexpected or mismatched key is an error
 * naming the first of each, and nothing is changed. Not strict: matching
 * keys are loaded and `report` (may be NULL) lists the rest; shape
 * mismatches are never loaded. */
volt_status volt_module_load_state_dict(volt_module *m, const volt_state_dict *sd, bool strict,
                                        volt_load_report *report);
/* Files: volt_state_dict_save / volt_state_dict_load in volt/io.h (the io
 * layer sits above nn). */

/* -------------------------------------------------------- hyperparameters */

typedef enum {
    VOLT_HPARAM_INT,
    VOLT_HPARAM_DOUBLE,
    VOLT_HPARAM_BOOL,
    VOLT_HPARAM_STRING
} volt_hparam_type;

/* Records name -> value (replacing an earlier value of the same name), in
 * insertion order; checkpoints and hparams.yaml store them. */
volt_status volt_module_set_hparam_int(volt_module *m, const char *name, int64_t value);
volt_status volt_module_set_hparam_double(volt_module *m, const char *name, double value);
volt_status volt_module_set_hparam_bool(volt_module *m, const char *name, bool value);
volt_status volt_module_set_hparam_string(volt_module *m, const char *name, const char *value);
int volt_module_hparam_count(const volt_module *m);
const char *volt_module_hparam_name(const volt_module *m, int i);
volt_hparam_type volt_module_hparam_type(const volt_module *m, int i);
/* The value as text: "3", "0.1", "true", the string itself. NULL if i is out
 * of range. */
const char *volt_module_hparam_text(const volt_module *m, int i);
/* Numeric lookup by name (ints and bools convert); NAN if absent or text. */
double volt_module_hparam_number(const volt_module *m, const char *name);

/* ----------------------------------------------------------- initialisers */
/* In place, under no-grad, drawing from `gen` (NULL: the default generator).
 * Floating tensors only; each returns VOLT_OK or records an error naming the
 * initialiser and the tensor. Fans follow PyTorch: for a weight [out, in,
 * k...], fan_in = in * prod(k), fan_out = out * prod(k); 1-D tensors refused
 * by the fan-based initialisers. (init.c) */

typedef enum { VOLT_FAN_IN = 0, VOLT_FAN_OUT } volt_fan_mode;

volt_status volt_init_fans(const volt_tensor *t, int64_t *fan_in, int64_t *fan_out);
/* torch.nn.init.calculate_gain: "linear", "conv1d", "conv2d", "sigmoid",
 * "tanh", "relu", "leaky_relu" (param = negative slope; NAN: 0.01), "selu". */
double volt_init_calculate_gain(const char *nonlinearity, double param);
volt_status volt_init_uniform_(volt_tensor *t, double low, double high, volt_generator *gen);
volt_status volt_init_normal_(volt_tensor *t, double mean, double std, volt_generator *gen);
/* Normal(mean, std) redrawn (or inverse-CDF sampled) into [a, b]. */
volt_status volt_init_trunc_normal_(volt_tensor *t, double mean, double std, double a, double b,
                                    volt_generator *gen);
volt_status volt_init_constant_(volt_tensor *t, double value);
volt_status volt_init_zeros_(volt_tensor *t);
volt_status volt_init_ones_(volt_tensor *t);
volt_status volt_init_xavier_uniform_(volt_tensor *t, double gain, volt_generator *gen);
volt_status volt_init_xavier_normal_(volt_tensor *t, double gain, volt_generator *gen);
/* a: the negative slope for leaky_relu; nonlinearity "relu" or "leaky_relu". */
volt_status volt_init_kaiming_uniform_(volt_tensor *t, double a, volt_fan_mode mode,
                                       const char *nonlinearity, volt_generator *gen);
volt_status volt_init_kaiming_normal_(volt_tensor *t, double a, volt_fan_mode mode,
                                      const char *nonlinearity, volt_generator *gen);
/* A (semi-)orthogonal matrix from the QR of a normal one (t viewed as
 * [rows, numel / rows]). */
volt_status volt_init_orthogonal_(volt_tensor *t, double gain, volt_generator *gen);

/* ------------------------------------------------------------------ layers */
/* Each layer: a struct embedding volt_module first, a constructor
 * volt_<layer>_new(parent, name, ...) returning it registered under parent
 * (NULL + error on bad hyperparameters, naming the layer and the value), and
 * volt_<layer>_forward(layer, x...) (NULL + error naming the layer on a wrong
 * input rank or size). Options structs: a zeroed field means PyTorch's
 * default. Parameters are f32 and initialised like PyTorch's defaults. */

/* --- layers: Linear, Bilinear, Embedding, Dropout, Flatten, Identity,
 *     Sequential, LayerNorm, GroupNorm, RMSNorm, MultiheadSelfAttention
 *     (layers.c and friends) --- */
/* The struct fields are for reading. Parameters are reached by name
 * (volt_module_get(&layer->base, "weight")), never through cached pointers,
 * so volt_module_replace (another dtype, loaded values) is always seen.
 * Layers whose name collides with an op carry a _layer suffix
 * (volt_embedding_layer, volt_dropout_layer, volt_flatten_layer). A forward
 * returns a tensor in the current scope; inputs must have the parameters'
 * dtype. */

/* Options of Linear and Bilinear. */
typedef struct {
    bool no_bias;        /* false: with a bias */
    volt_generator *gen; /* NULL: the default generator */
} volt_linear_options;

/* Linear: y = x W^T + b for x [..., in] -> [..., out]. Parameters "weight"
 * [out, in] (kaiming_uniform a = sqrt(5), i.e. U(+-1/sqrt(in))) and "bias"
 * [out] (U(+-1/sqrt(in))). The product goes to BLAS with W^T as a
 * transposed view (no copy). */
typedef struct {
    volt_module base;
    int64_t in_features, out_features;
    bool has_bias;
} volt_linear;
volt_linear *volt_linear_new(volt_module *parent, const char *name, int64_t in_features,
                             int64_t out_features);
volt_linear *volt_linear_new_ex(volt_module *parent, const char *name, int64_t in_features,
                                int64_t out_features, const volt_linear_options *options);
volt_tensor *volt_linear_forward(volt_linear *layer, const volt_tensor *x);

/* Bilinear: y[o] = x1^T W[o] x2 + b[o] for x1 [..., in1], x2 [..., in2]
 * (same leading dims) -> [..., out]. "weight" [out, in1, in2] and "bias"
 * [out], both U(+-1/sqrt(in1)). No class forward (two inputs). */
typedef struct {
    volt_module base;
    int64_t in1_features, in2_features, out_features;
    bool has_bias;
} volt_bilinear;
volt_bilinear *volt_bilinear_new(volt_module *parent, const char *name, int64_t in1_features,
                                 int64_t in2_features, int64_t out_features,
                                 const volt_linear_options *options);
volt_tensor *volt_bilinear_forward(volt_bilinear *layer, const volt_tensor *x1,
                                   const volt_tensor *x2);

/* Embedding: integer indices (i64/i32) [*] -> [*, dim] rows of "weight"
 * [num, dim] (N(0, 1)). padding_idx: a row in [-num, num) (negative counts
 * from the end) initialised to zero whose gradient is always zero, or
 * VOLT_NO_PADDING_IDX. */
typedef struct {
    volt_module base;
    int64_t num_embeddings, embedding_dim;
    int64_t padding_idx; /* in [0, num), or VOLT_NO_PADDING_IDX */
} volt_embedding_layer;
volt_embedding_layer *volt_embedding_layer_new(volt_module *parent, const char *name,
                                               int64_t num_embeddings, int64_t embedding_dim,
                                               int64_t padding_idx);
volt_tensor *volt_embedding_layer_forward(volt_embedding_layer *layer, const volt_tensor *indices);

/* Dropout with probability p in [0, 1] (PyTorch's range) while the module is
 * training; identity in eval mode. Masks come from the default generator. */
typedef struct {
    volt_module base;
    double p;
} volt_dropout_layer;
volt_dropout_layer *volt_dropout_layer_new(volt_module *parent, const char *name, double p);
volt_tensor *volt_dropout_layer_forward(volt_dropout_layer *layer, const volt_tensor *x);

/* Flatten dims start_dim..end_dim (PyTorch's defaults: 1, -1) into one. */
typedef struct {
    volt_module base;
    int start_dim, end_dim;
} volt_flatten_layer;
volt_flatten_layer *volt_flatten_layer_new(volt_module *parent, const char *name, int start_dim,
                                           int end_dim);
volt_tensor *volt_flatten_layer_forward(volt_flatten_layer *layer, const volt_tensor *x);

/* Identity: y is a view of x carrying its gradient. */
typedef struct {
    volt_module base;
} volt_identity;
volt_identity *volt_identity_new(volt_module *parent, const char *name);
volt_tensor *volt_identity_forward(volt_identity *layer, const volt_tensor *x);

/* Sequential: runs its children's class forward in registration order.
 * Children are layers created with &seq->base as parent (any names) or
 * appended, which names them by position: "0", "1", ... (state-dict keys
 * "0.weight", ...). An empty Sequential is the identity. */
typedef struct {
    volt_module base;
} volt_sequential;
volt_sequential *volt_sequential_new(volt_module *parent, const char *name);
/* Registers `layer` (which must have no parent yet) as child
 * "<number of children>"; a layer from a constructor is then freed with the
 * Sequential. On error (layer NULL or already a child) the layer is left
 * as it was. */
volt_status volt_sequential_append(volt_sequential *seq, volt_module *layer);
volt_tensor *volt_sequential_forward(volt_sequential *seq, const volt_tensor *x);

/* Options of LayerNorm, GroupNorm and RMSNorm. */
typedef struct {
    double eps;     /* 0: 1e-5 (RMSNorm: 0 or NAN: the machine epsilon of x's dtype) */
    bool no_affine; /* true: no weight/bias (elementwise_affine / affine = False) */
} volt_norm_options;

/* LayerNorm over the last dims of x, which must equal normalized_shape:
 * "weight" (ones) and "bias" (zeros) of that shape. */
typedef struct {
    volt_module base;
    int normalized_ndim;
    int64_t normalized_shape[VOLT_MAX_DIMS];
    double eps;
    bool affine;
} volt_layernorm;
volt_layernorm *volt_layernorm_new(volt_module *parent, const char *name, int normalized_ndim,
                                   const int64_t *normalized_shape,
                                   const volt_norm_options *options);
volt_tensor *volt_layernorm_forward(volt_layernorm *layer, const volt_tensor *x);

/* GroupNorm of x [N, num_channels, *] in num_groups groups (dividing
 * num_channels); "weight" (ones) and "bias" (zeros) [num_channels]. */
typedef struct {
    volt_module base;
    int64_t num_groups, num_channels;
    double eps;
    bool affine;
} volt_groupnorm;
volt_groupnorm *volt_groupnorm_new(volt_module *parent, const char *name, int64_t num_groups,
                                   int64_t num_channels, const volt_norm_options *options);
volt_tensor *volt_groupnorm_forward(volt_groupnorm *layer, const volt_tensor *x);

/* RMSNorm (torch.nn.RMSNorm) over the last dims: "weight" (ones) of
 * normalized_shape. */
typedef struct {
    volt_module base;
    int normalized_ndim;
    int64_t normalized_shape[VOLT_MAX_DIMS];
    double eps; /* NAN: the machine epsilon of the input's dtype */
    bool affine;
} volt_rmsnorm;
volt_rmsnorm *volt_rmsnorm_new(volt_module *parent, const char *name, int normalized_ndim,
                               const int64_t *normalized_shape, const volt_norm_options *options);
volt_tensor *volt_rmsnorm_forward(volt_rmsnorm *layer, const volt_tensor *x);

/* Multi-head self-attention (torch.nn.MultiheadAttention with
 * batch_first=True, query = key = value = x, need_weights=False):
 * x [B, T, E] (or [T, E]) -> same shape. Parameters as PyTorch names them:
 * "in_proj_weight" [3E, E] (xavier_uniform; q, k, v stacked), "in_proj_bias"
 * [3E] (zeros), and the child Linear "out_proj" (its default weight, zero
 * bias). */
typedef struct {
    bool no_bias;        /* false: in_proj_bias and out_proj.bias */
    double dropout;      /* on the attention probabilities while training, in [0, 1] */
    bool causal;         /* query t attends to keys <= t only */
    volt_generator *gen; /* NULL: the default generator (initialisation) */
} volt_multihead_attention_options;
typedef struct {
    volt_module base;
    int64_t embed_dim, num_heads;
    double dropout;
    bool causal, has_bias;
    volt_linear *out_proj;
} volt_multihead_attention;
volt_multihead_attention *
volt_multihead_attention_new(volt_module *parent, const char *name, int64_t embed_dim,
                             int64_t num_heads, const volt_multihead_attention_options *options);
/* Through volt_scaled_dot_product_attention; while training with dropout > 0
 * it runs the reference path (dropout needs the probabilities). */
volt_tensor *volt_multihead_attention_forward(volt_multihead_attention *layer,
                                              const volt_tensor *x);
/* The reference: the same layer from plain ops (matmul, scale, masked_fill,
 * softmax, dropout, matmul). */
volt_tensor *volt_multihead_attention_forward_reference(volt_multihead_attention *layer,
                                                        const volt_tensor *x);

/* --- layers: Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d,
 *     AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d (conv.c and friends) --- */
/* Thin wrappers over the ops of volt/ops.h (volt_conv2d, volt_max_pool2d,
 * volt_batch_norm, ...), with the same conventions as the layers above
 * (fields for reading, parameters by name, _layer suffix where a name
 * collides with an op). Per-dimension fields are {H, W}; the 1-d layers use
 * entry 0. Constructor errors name the layer and the bad value, e.g.
 * "Conv2d 'conv1': kernel_size 0 (must be >= 1)"; forward errors name the
 * layer and the input, e.g. "Conv2d 'conv1': input f32[8,3,28,28] has 3
 * channels, expected 1" (errors of the op underneath are prefixed with the
 * layer's label). */

struct volt_dnnl_weight_cache;

/* Options of Conv1d, Conv2d and ConvTranspose2d; zero fields mean PyTorch's
 * defaults. */
typedef struct {
    int64_t stride[2];         /* 0: 1 */
    int64_t padding[2];        /* 0; VOLT_PADDING_SAME: "same" (stride 1, not transposed) */
    int64_t output_padding[2]; /* ConvTranspose2d; < max(stride, dilation) */
    int64_t dilation[2];       /* 0: 1 */
    int64_t groups;            /* 0: 1; must divide in and out channels */
    bool no_bias;              /* false: with a bias */
    volt_generator *gen;       /* NULL: the default generator */
} volt_conv_options;

/* Conv1d / Conv2d / ConvTranspose2d. "weight" [out, in / groups, kH, kW]
 * ([in, out / groups, kH, kW] transposed; Conv1d without kH), initialised
 * kaiming_uniform a = sqrt(5) (U(+-1/sqrt(fan_in)), fan_in = dim 1 times
 * the kernel area) and "bias" [out] U(+-1/sqrt(fan_in)), like PyTorch.
 * Conv1d and Conv2d keep the weights reordered for oneDNN between steps
 * (until the weight changes). Inputs: [N, C, L] or [C, L] (1d), [N, C, H, W]
 * or [C, H, W] (2d). */
typedef struct {
    volt_module base;
    int64_t in_channels, out_channels;
    int64_t kernel_size[2], stride[2], padding[2], output_padding[2], dilation[2], groups;
    bool has_bias;
    /* private: */
    int dims; /* 1 or 2 */
    bool transposed;
    struct volt_dnnl_weight_cache *weight_cache;
} volt_conv_layer;
typedef volt_conv_layer volt_conv1d_layer;
typedef volt_conv_layer volt_conv2d_layer;
typedef volt_conv_layer volt_conv_transpose2d_layer;

/* options NULL: the defaults. */
volt_conv1d_layer *volt_conv1d_layer_new(volt_module *parent, const char *name, int64_t in_channels,
                                         int64_t out_channels, int64_t kernel_size,
                                         const volt_conv_options *options);
volt_conv2d_layer *volt_conv2d_layer_new(volt_module *parent, const char *name, int64_t in_channels,
                                         int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
                                         const volt_conv_options *options);
volt_conv_transpose2d_layer *volt_conv_transpose2d_layer_new(volt_module *parent, const char *name,
                                                             int64_t in_channels,
                                                             int64_t out_channels, int64_t kernel_h,
                                                             int64_t kernel_w,
                                                             const volt_conv_options *options);
volt_tensor *volt_conv1d_layer_forward(volt_conv1d_layer *layer, const volt_tensor *x);
volt_tensor *volt_conv2d_layer_forward(volt_conv2d_layer *layer, const volt_tensor *x);
/* relu(volt_conv2d_layer_forward(layer, x)) fused (volt_conv2d_relu): the
 * same values, half the activation memory. */
volt_tensor *volt_conv2d_relu_layer_forward(volt_conv2d_layer *layer, const volt_tensor *x);
/* max_pool2d(relu(volt_conv2d_layer_forward(layer, x)), 2) fused
 * (volt_conv2d_relu_max_pool2x2): the same values, a quarter of the memory
 * traffic in a network's first block. */
volt_tensor *volt_conv2d_relu_max_pool2x2_layer_forward(volt_conv2d_layer *layer,
                                                        const volt_tensor *x);
volt_tensor *volt_conv_transpose2d_layer_forward(volt_conv_transpose2d_layer *layer,
                                                 const volt_tensor *x);

/* Options of MaxPool2d and AvgPool2d; zero fields mean PyTorch's defaults. */
typedef struct {
    int64_t stride[2];   /* 0: the kernel size */
    int64_t padding[2];  /* at most half the kernel */
    int64_t dilation[2]; /* MaxPool2d; 0: 1 */
    bool ceil_mode;
    bool exclude_pad; /* AvgPool2d: count_include_pad = false */
} volt_pool_options;

/* MaxPool2d / AvgPool2d over [N, C, H, W] or [C, H, W]; no parameters. */
typedef struct {
    volt_module base;
    int64_t kernel_size[2], stride[2], padding[2], dilation[2];
    bool ceil_mode, count_include_pad;
} volt_pool2d_layer;
typedef volt_pool2d_layer volt_max_pool2d_layer;
typedef volt_pool2d_layer volt_avg_pool2d_layer;
volt_max_pool2d_layer *volt_max_pool2d_layer_new(volt_module *parent, const char *name,
                                                 int64_t kernel_h, int64_t kernel_w,
                                                 const volt_pool_options *options);
volt_avg_pool2d_layer *volt_avg_pool2d_layer_new(volt_module *parent, const char *name,
                                                 int64_t kernel_h, int64_t kernel_w,
                                                 const volt_pool_options *options);
volt_tensor *volt_max_pool2d_layer_forward(volt_max_pool2d_layer *layer, const volt_tensor *x);
volt_tensor *volt_avg_pool2d_layer_forward(volt_avg_pool2d_layer *layer, const volt_tensor *x);

/* AdaptiveAvgPool2d to [out_h, out_w]. */
typedef struct {
    volt_module base;
    int64_t output_size[2];
} volt_adaptive_avg_pool2d_layer;
volt_adaptive_avg_pool2d_layer *volt_adaptive_avg_pool2d_layer_new(volt_module *parent,
                                                                   const char *name, int64_t out_h,
                                                                   int64_t out_w);
volt_tensor *volt_adaptive_avg_pool2d_layer_forward(volt_adaptive_avg_pool2d_layer *layer,
                                                    const volt_tensor *x);

/* Options of BatchNorm1d / BatchNorm2d; zero fields mean PyTorch's
 * defaults. */
typedef struct {
    double eps;                  /* 0: 1e-5 */
    double momentum;             /* 0: 0.1; NAN: cumulative average (PyTorch's None) */
    bool no_affine;              /* no "weight" (ones) and "bias" (zeros) */
    bool no_track_running_stats; /* no buffers: batch statistics always */
} volt_batch_norm_options;

/* A replacement of volt_batch_norm for the training-mode forward of a batch
 * norm layer: called instead of volt_batch_norm(x, running_mean,
 * running_var, weight, bias, true, momentum, eps), with the same arguments
 * and contract (running statistics updated in place), plus the ctx it was
 * set with. What volt_sync_batch_norm_convert (volt/dist.h) installs, so
 * that the batch statistics cover every rank's batch. */
typedef volt_tensor *(*volt_batch_norm_train_fn)(void *ctx, const volt_tensor *x,
                                                 volt_tensor *running_mean,
                                                 volt_tensor *running_var,
                                                 const volt_tensor *weight, const volt_tensor *bias,
                                                 double momentum, double eps);

/* BatchNorm1d ([N, C] or [N, C, L]) / BatchNorm2d ([N, C, H, W]). Buffers
 * "running_mean" (zeros), "running_var" (ones) and "num_batches_tracked"
 * (i64, 0-d), as in PyTorch's state dicts. Training mode: batch statistics,
 * running statistics updated (num_batches_tracked + 1), through train_fn
 * when one is set; eval mode: the running statistics (batch ones without
 * tracked statistics), never through train_fn. */
typedef struct {
    volt_module base;
    int64_t num_features;
    double eps, momentum;
    bool affine, track_running_stats;
    volt_batch_norm_train_fn train_fn; /* NULL: volt_batch_norm */
    void *train_ctx;                   /* train_fn's context, not owned */
    /* private: */
    int dims; /* 1 or 2 */
} volt_batch_norm_layer;
typedef volt_batch_norm_layer volt_batch_norm1d;
typedef volt_batch_norm_layer volt_batch_norm2d;
volt_batch_norm1d *volt_batch_norm1d_new(volt_module *parent, const char *name,
                                         int64_t num_features,
                                         const volt_batch_norm_options *options);
volt_batch_norm2d *volt_batch_norm2d_new(volt_module *parent, const char *name,
                                         int64_t num_features,
                                         const volt_batch_norm_options *options);
volt_tensor *volt_batch_norm1d_forward(volt_batch_norm1d *layer, const volt_tensor *x);
volt_tensor *volt_batch_norm2d_forward(volt_batch_norm2d *layer, const volt_tensor *x);
/* Sets train_fn and ctx (fn NULL: plain volt_batch_norm again, ctx
 * ignored) on every BatchNorm1d / BatchNorm2d layer among m and its
 * descendants. Returns how many layers it set, or -1 with
 * VOLT_ERR_INVALID_ARGUMENT for a NULL m. */
int64_t volt_batch_norm_set_train_fn(volt_module *m, volt_batch_norm_train_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_NN_H */
