using System.Buffers.Binary;

namespace DistEmbed.Facade.Tests;

/// <summary>IDX file pieces for the reader tests (one copy for the data, hostile-input and fuzz tests).</summary>
internal static class IdxTestFiles
{
    /// <summary>An IDX header: two zero bytes, the type byte, the rank, then each extent as a big-endian int32.</summary>
    public static byte[] Header(byte type, params int[] shape)
    {
        var bytes = new byte[4 + 4 * shape.Length];
        bytes[2] = type;
        bytes[3] = (byte)shape.Length;
        for (var k = 0; k < shape.Length; k++)
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * k), shape[k]);
        return bytes;
    }
}
