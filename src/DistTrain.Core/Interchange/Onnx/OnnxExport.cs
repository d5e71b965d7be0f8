using System.Runtime.InteropServices;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;

namespace DistTrain.Core.Interchange.Onnx;

/// <summary>
/// Exports a trained sequential model to ONNX (IR version 8, default-domain opset 13), written with
/// <see cref="ProtoWriter"/> (no protobuf package). The graph takes <c>input</c>, a float tensor
/// (N, ...input_shape) with a symbolic batch dimension "N", and has two outputs:
/// <list type="bullet">
/// <item><c>output</c>: exactly what <see cref="Model.Forward"/> returns (logits for a model trained with
/// cross-entropy, the last layer's values otherwise);</item>
/// <item><c>probabilities</c>: what <c>disttrain predict</c> prints, i.e. the loss's ToProbabilities of
/// <c>output</c>: Softmax(axis = -1) for softmax cross-entropy, Identity for mean squared error.</item>
/// </list>
/// Layers map one to one onto nodes: Dense → Gemm (transB = 1, W stored (out, in)), Conv2D → Conv
/// (pads, strides), MaxPool2D → MaxPool, ReLU/Sigmoid/Tanh → Relu/Sigmoid/Tanh, Softmax → Softmax
/// (axis = -1), Flatten → Flatten (axis = 1). Dropout and SpatialDropout are the identity at inference and
/// are left out. Parameters are initializers named like the safetensors export (<c>{i}.weight</c>,
/// <c>{i}.bias</c>), stored as raw little-endian floats. Input standardisation (penguins) is not part of
/// the graph: it is recorded in the metadata, and callers standardise inputs as <c>disttrain predict</c> does.
/// </summary>
public static class OnnxExport
{
    public const long IrVersion = 8;
    public const long OpsetVersion = 13;
    public const string InputName = "input";
    public const string OutputName = "output";
    public const string ProbabilitiesName = "probabilities";
    public const string BatchDimension = "N";
    public const string Extension = ".onnx";

    // onnx.proto field numbers
    private const int ModelIrVersion = 1, ModelProducerName = 2, ModelProducerVersion = 3, ModelDocString = 6, ModelGraph = 7, ModelOpsetImport = 8, ModelMetadataProps = 14;
    private const int OpsetDomain = 1, OpsetVersionField = 2;
    private const int GraphNode = 1, GraphName = 2, GraphInitializer = 5, GraphInput = 11, GraphOutput = 12;
    private const int NodeInput = 1, NodeOutput = 2, NodeName = 3, NodeOpType = 4, NodeAttribute = 5;
    private const int AttrName = 1, AttrI = 3, AttrInts = 8, AttrType = 20;
    private const int AttrTypeInt = 2, AttrTypeInts = 7;
    private const int TensorDims = 1, TensorDataType = 2, TensorName = 8, TensorRawData = 9;
    private const int TensorFloat = 1; // TensorProto.DataType.FLOAT
    private const int ValueInfoName = 1, ValueInfoType = 2;
    private const int TypeTensorType = 1, TypeTensorElemType = 1, TypeTensorShape = 2;
    private const int ShapeDim = 1, DimValue = 1, DimParam = 2;
    private const int EntryKey = 1, EntryValue = 2;

    public static byte[] ToBytes(ModelSpec spec, float[] parameters, LossKind loss, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(parameters);
        var model = new Model(spec);
        if (parameters.Length != model.ParameterCount)
            throw new ArgumentException($"The model spec needs {model.ParameterCount} parameters but {parameters.Length} were given.");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");

        var graph = new ProtoWriter();
        graph.String(GraphName, "disttrain");
        foreach (var t in ModelWeights.Layout(model))
        {
            var tensor = new ProtoWriter();
            foreach (var d in t.Shape) tensor.Int64(TensorDims, d);
            tensor.Int64(TensorDataType, TensorFloat);
            tensor.String(TensorName, t.Name);
            tensor.Bytes(TensorRawData, MemoryMarshal.AsBytes(parameters.AsSpan(t.Offset, t.Length)));
            graph.Message(GraphInitializer, tensor);
        }

        var nodes = new List<Node>();
        var current = InputName;
        for (var i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            var name = $"{i}.{layer.Kind}";
            var output = $"{i}.out";
            Node? node = layer switch
            {
                Dense => new Node("Gemm", name, [current, $"{i}.weight", $"{i}.bias"], output, [("transB", [1], false)]),
                Conv2D c => new Node("Conv", name, [current, $"{i}.weight", $"{i}.bias"], output,
                [
                    ("kernel_shape", [c.KernelSize, c.KernelSize], true),
                    ("strides", [c.Stride, c.Stride], true),
                    ("pads", [c.Padding, c.Padding, c.Padding, c.Padding], true),
                    ("dilations", [1, 1], true),
                    ("group", [1], false),
                ]),
                MaxPool2D m => new Node("MaxPool", name, [current], output,
                [
                    ("kernel_shape", [m.PoolSize, m.PoolSize], true),
                    ("strides", [m.Stride, m.Stride], true),
                    ("pads", [0, 0, 0, 0], true),
                ]),
                ReLU => new Node("Relu", name, [current], output, []),
                Sigmoid => new Node("Sigmoid", name, [current], output, []),
                Tanh => new Node("Tanh", name, [current], output, []),
                Softmax => new Node("Softmax", name, [current], output, [("axis", [-1], false)]),
                Flatten => new Node("Flatten", name, [current], output, [("axis", [1], false)]),
                Dropout or SpatialDropout => null, // identity at inference
                _ => throw new NotSupportedException($"ONNX export: layer {i} ({layer.Name}, {layer.Kind}) has no ONNX mapping in this build."),
            };
            if (node is null) continue;
            nodes.Add(node);
            current = output;
        }
        // The last node writes "output" directly; a model of only dropout layers gets an Identity.
        if (nodes.Count > 0 && nodes[^1].Output == current) nodes[^1] = nodes[^1] with { Output = OutputName };
        else nodes.Add(new Node("Identity", "output.Identity", [current], OutputName, []));
        nodes.Add(loss == LossKind.SoftmaxCrossEntropy
            ? new Node("Softmax", "probabilities.Softmax", [OutputName], ProbabilitiesName, [("axis", [-1], false)])
            : new Node("Identity", "probabilities.Identity", [OutputName], ProbabilitiesName, []));
        foreach (var n in nodes) graph.Message(GraphNode, n.ToProto());

        graph.Message(GraphInput, ValueInfo(InputName, model.InputShape.ToArray()));
        graph.Message(GraphOutput, ValueInfo(OutputName, model.OutputShape.ToArray()));
        graph.Message(GraphOutput, ValueInfo(ProbabilitiesName, model.OutputShape.ToArray()));

        var proto = new ProtoWriter();
        proto.Int64(ModelIrVersion, IrVersion);
        proto.String(ModelProducerName, "DistTrain");
        proto.String(ModelProducerVersion, typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0");
        proto.String(ModelDocString, $"Exported by DistTrain: output = the model's last layer ({(loss == LossKind.SoftmaxCrossEntropy ? "logits" : "values")}), probabilities = what disttrain predict prints.");
        proto.Message(ModelOpsetImport, new ProtoWriter().String(OpsetDomain, "").Int64(OpsetVersionField, OpsetVersion));
        proto.Message(ModelGraph, graph);
        var props = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [ModelWeights.SpecKey] = spec.ToJson(),
            ["disttrain.loss"] = loss.ToString(),
        };
        if (metadata is not null)
            foreach (var (k, v) in metadata) props[k] = v;
        foreach (var (k, v) in props) proto.Message(ModelMetadataProps, new ProtoWriter().String(EntryKey, k).String(EntryValue, v));
        return proto.ToArray();
    }

    public static void Write(string path, ModelSpec spec, float[] parameters, LossKind loss, IReadOnlyDictionary<string, string>? metadata = null)
        => DistTrain.Core.IO.AtomicFile.Write(path, ToBytes(spec, parameters, loss, metadata));

    private static ProtoWriter ValueInfo(string name, int[] sampleShape)
    {
        var shape = new ProtoWriter();
        shape.Message(ShapeDim, new ProtoWriter().String(DimParam, BatchDimension));
        foreach (var d in sampleShape) shape.Message(ShapeDim, new ProtoWriter().Int64(DimValue, d));
        var tensorType = new ProtoWriter().Int64(TypeTensorElemType, TensorFloat).Message(TypeTensorShape, shape);
        var type = new ProtoWriter().Message(TypeTensorType, tensorType);
        return new ProtoWriter().String(ValueInfoName, name).Message(ValueInfoType, type);
    }

    private sealed record Node(string OpType, string Name, string[] Inputs, string Output, (string Name, long[] Values, bool IsList)[] Attributes)
    {
        public ProtoWriter ToProto()
        {
            var p = new ProtoWriter();
            foreach (var i in Inputs) p.String(NodeInput, i);
            p.String(NodeOutput, Output);
            p.String(NodeName, Name);
            p.String(NodeOpType, OpType);
            foreach (var (name, values, isList) in Attributes)
            {
                var a = new ProtoWriter().String(AttrName, name);
                if (isList)
                {
                    foreach (var v in values) a.Int64(AttrInts, v);
                    a.Int64(AttrType, AttrTypeInts);
                }
                else
                {
                    a.Int64(AttrI, values[0]);
                    a.Int64(AttrType, AttrTypeInt);
                }
                p.Message(NodeAttribute, a);
            }
            return p;
        }
    }
}
