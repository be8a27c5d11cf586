using System.Diagnostics;
using System.Text;

namespace MailServer.Tests.Support;

/// <summary>What a third-party program run by <see cref="ExternalProgram"/> did.</summary>
public sealed record ExternalProgramResult(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>Both streams, for assertion messages.</summary>
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}

/// <summary>Runs a third-party program (python3, mbsync, ...) found on PATH, with a time limit.</summary>
public static class ExternalProgram
{
    /// <summary>Starts <paramref name="program"/> with the arguments and waits for it to exit.</summary>
    /// <exception cref="TimeoutException">The program ran longer than <paramref name="timeout"/>; it is killed and its output so far is in the message.</exception>
    /// <exception cref="System.ComponentModel.Win32Exception">The program is not installed (not on PATH).</exception>
    public static async Task<ExternalProgramResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout,
        string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            info.Environment[name] = value;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            // Bounded too: WaitForExitAsync also waits for end of file on the output, which a child that left the
            // process tree (a daemon it started) could hold open for ever.
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await process.WaitForExitAsync(grace.Token); }
            catch (OperationCanceledException) { }
            throw new TimeoutException($"{program} ran longer than {timeout}:\n{stdout}\n{stderr}");
        }
        // WaitForExitAsync returns once the streams reached end of file, so both buffers are complete.
        lock (stdout) lock (stderr)
            return new ExternalProgramResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }
}
