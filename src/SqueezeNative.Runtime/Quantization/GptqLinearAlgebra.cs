using System.Globalization;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>The one factorisation GPTQ needs, in double.</summary>
internal static class GptqLinearAlgebra
{
    /// <summary>Below this many multiply-adds a column step runs on the calling thread.</summary>
    private const long ParallelThreshold = 1 << 15;

    /// <summary>
    /// The upper-triangular U with UᵀU = H⁻¹ (GPTQ's <c>Hinv = cholesky(cholesky_inverse(cholesky(H)), upper=True)</c>),
    /// returned as float [K, K] row-major (zeros below the diagonal).
    /// <para>
    /// Computed without forming H⁻¹: factor H = R·Rᵀ with R upper triangular (Cholesky of H with
    /// rows and columns in reverse order), then U = R⁻¹, since then UᵀU = R⁻ᵀR⁻¹ = (R·Rᵀ)⁻¹ = H⁻¹
    /// and an upper Cholesky factor with positive diagonal is unique. About K³/3 multiply-adds
    /// instead of GPTQ's ≈ K³.
    /// </para>
    /// </summary>
    /// <param name="h">Symmetric [K, K] (only the upper triangle is read); overwritten by R.</param>
    public static float[] UpperCholeskyOfInverse(double[] h, int k, string? tensorName)
    {
        // R, column by column from the last: R[j,j] = sqrt(H[j,j] − Σ_{t>j} R[j,t]²),
        // R[i,j] = (H[i,j] − Σ_{t>j} R[i,t]·R[j,t]) / R[j,j] for i < j. Row i's tail R[i, j+1..]
        // is contiguous, so every sum is a dot product of two contiguous spans.
        for (var j = k - 1; j >= 0; j--)
        {
            var column = j;
            var tail = k - j - 1;
            var rowJ = h.AsSpan(j * k + j + 1, tail);
            var pivot = h[j * k + j] - VectorKernels.Dot(rowJ, rowJ);
            if (!(pivot > 0))
                throw new QuantizationException(string.Create(CultureInfo.InvariantCulture,
                    $"GPTQ: the Hessian is not positive definite even after dampening (pivot {pivot:G6} at column {j}); use more calibration samples or a larger --percdamp"),
                    tensorName);
            var diagonal = Math.Sqrt(pivot);
            h[j * k + j] = diagonal;

            void Solve(int i)
            {
                var dot = VectorKernels.Dot(h.AsSpan(i * k + column + 1, tail), h.AsSpan(column * k + column + 1, tail));
                h[i * k + column] = (h[i * k + column] - dot) / diagonal;
            }
            if ((long)j * tail < ParallelThreshold)
            {
                for (var i = 0; i < j; i++)
                    Solve(i);
            }
            else
            {
                Parallel.For(0, j, Solve);
            }
        }

        // U = R⁻¹, column by column: R·u = e_j by back substitution, u[j] = 1/R[j,j],
        // u[i] = −(Σ_{t=i+1..j} R[i,t]·u[t]) / R[i,i]. Columns are independent.
        var u = new float[k * k];
        Parallel.For(0, k, () => new double[k], (j, _, solution) =>
        {
            solution[j] = 1.0 / h[j * k + j];
            u[j * k + j] = (float)solution[j];
            for (var i = j - 1; i >= 0; i--)
            {
                var dot = VectorKernels.Dot(h.AsSpan(i * k + i + 1, j - i), solution.AsSpan(i + 1, j - i));
                solution[i] = -dot / h[i * k + i];
                u[i * k + j] = (float)solution[i];
            }
            return solution;
        }, _ => { });
        return u;
    }
}
