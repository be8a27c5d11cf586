namespace MailServer.Tests.Support;

/// <summary>Runs Debian's swaks, the admin's everyday SMTP test tool, and returns its transcript.</summary>
public static class Swaks
{
    /// <summary>Runs swaks with the arguments; returns its exit code and everything it printed.</summary>
    /// <exception cref="System.ComponentModel.Win32Exception">swaks is not installed (test.sh installs it).</exception>
    public static async Task<(int ExitCode, string Transcript)> RunAsync(params string[] arguments)
    {
        // stdin closed: swaks asks on its terminal for what its arguments lack (a password), never waited for here.
        var run = await ExternalProgram.RunAsync("swaks", arguments, TimeSpan.FromSeconds(60));
        return (run.ExitCode, run.StandardOutput + run.StandardError);
    }
}
