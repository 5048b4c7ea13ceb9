using HdrHistogram;

namespace Pulsarish.Cli;

/// <summary>Percentiles of a possibly empty histogram: a run that recorded nothing reports zeros, never throws.</summary>
internal static class HistogramPercentiles
{
    /// <summary>The value at <paramref name="percentile"/>, or 0 when nothing was recorded.</summary>
    public static long ValueAt(this HistogramBase histogram, double percentile) =>
        histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(percentile);
}
