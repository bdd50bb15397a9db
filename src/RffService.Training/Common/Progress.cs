using System.Diagnostics;

namespace RffService.Training.Common;

/// <summary>A console progress bar (redrawn in place on a terminal, one line per 10% otherwise).</summary>
public sealed class Progress(string title, long total)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _done;
    private int _lastDecile = -1;
    private long _lastDrawTicks;

    public void Advance(long count = 1)
    {
        long done = Interlocked.Add(ref _done, count);
        Draw(done, done >= total);
    }

    public void Finish() => Draw(total, final: true);

    private void Draw(long done, bool final)
    {
        double fraction = total == 0 ? 1 : Math.Min(1, (double)done / total);
        var elapsed = _clock.Elapsed;
        var eta = fraction > 0 ? TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - fraction) / fraction) : TimeSpan.Zero;
        string line = $"{title} [{new string('#', (int)(fraction * 30)),-30}] {fraction,4:P0} {done}/{total} {elapsed:mm\\:ss} eta {eta:mm\\:ss}";
        lock (this)
        {
            if (!Console.IsErrorRedirected)
            {
                if (!final && _clock.ElapsedTicks - _lastDrawTicks < Stopwatch.Frequency / 5) return;
                _lastDrawTicks = _clock.ElapsedTicks;
                Console.Error.Write("\r" + line + (final ? Environment.NewLine : ""));
                return;
            }
            int decile = (int)(fraction * 10);
            if (decile == _lastDecile && !final) return;
            if (final && _lastDecile == 10) return;
            _lastDecile = final ? 10 : decile;
            Console.Error.WriteLine(line);
        }
    }
}
