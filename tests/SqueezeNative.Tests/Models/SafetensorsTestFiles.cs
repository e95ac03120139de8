using System.Buffers.Binary;
using System.Text;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Tests.Models;

/// <summary>Builders of valid and deliberately broken safetensors files for tests.</summary>
internal static class SafetensorsTestFiles
{
    /// <summary>Writes the raw layout [u64 length][header][data] with any header text, valid or not.</summary>
    public static string WriteRaw(string path, string header, byte[]? data = null, ulong? lengthPrefix = null)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header);
        return WriteRaw(path, headerBytes, data, lengthPrefix);
    }

    public static string WriteRaw(string path, byte[] header, byte[]? data = null, ulong? lengthPrefix = null)
    {
        using var stream = File.Create(path);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, lengthPrefix ?? (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);
        if (data is not null) stream.Write(data);
        return path;
    }

    /// <summary>A tensor whose byte i holds (seed + i) mod 251, so every tensor's content is distinct.</summary>
    public static SafetensorsTensor Patterned(string name, TensorDType dtype, long[] shape, int seed)
    {
        Assert.True(TensorDTypes.TryComputeByteLength(shape, dtype, out var length));
        var bytes = new byte[length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)((seed + i) % 251);
        return new SafetensorsTensor(name, dtype, shape, bytes);
    }

    /// <summary>A small valid file of a few tensors of mixed dtypes.</summary>
    public static IReadOnlyList<SafetensorsTensor> SmallSet() =>
    [
        Patterned("embed.weight", TensorDType.F16, [10, 4], 1),
        Patterned("layers.0.q_proj.weight", TensorDType.F16, [4, 4], 2),
        Patterned("layers.0.q_proj.bias", TensorDType.F32, [4], 3),
        Patterned("norm.weight", TensorDType.BF16, [4], 4),
        Patterned("position_ids", TensorDType.I64, [1, 3], 5),
        Patterned("mask", TensorDType.Bool, [2, 3], 6),
        Patterned("empty", TensorDType.F32, [0, 7], 7),
    ];
}
