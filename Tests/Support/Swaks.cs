using System.Diagnostics;

namespace MailServer.Tests.Support;

/// <summary>Runs Debian's swaks, the admin's everyday SMTP test tool, and returns its transcript.</summary>
public static class Swaks
{
    /// <summary>Runs swaks with the arguments; returns its exit code and everything it printed.</summary>
    /// <exception cref="System.ComponentModel.Win32Exception">swaks is not installed (test.sh installs it).</exception>
    public static async Task<(int ExitCode, string Transcript)> RunAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo("swaks") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
