namespace MailServer.Tests.Support;

/// <summary>
/// Python's dkimpy (Debian python3-dkim) as an independent DKIM implementation: signs a message with a key file,
/// or verifies one against a public key given on the command line (dkimpy's dnsfunc hook answers every key query
/// with it, so no DNS is needed).
/// </summary>
public static class DkimPy
{
    private const string Script = """
        import base64, re, sys
        import dkim

        def private_key(path, algorithm):
            pem = open(path, 'rb').read()
            if algorithm == b'rsa-sha256':
                return pem
            # Ed25519 PKCS#8 (RFC 8410 §7): privateKey is an OCTET STRING wrapping the 32-byte seed
            # (04 22 04 20 <seed>), possibly followed by the public key; dkimpy wants the seed base64-encoded.
            der = base64.b64decode(b''.join(l for l in pem.splitlines() if not l.startswith(b'-----')))
            at = der.index(b'\x04\x22\x04\x20') + 4
            return base64.b64encode(der[at:at + 32])

        command = sys.argv[1]
        message = sys.stdin.buffer.read()
        if command == 'sign':
            key, domain, selector, algorithm, canonicalization, length = sys.argv[2:8]
            algorithm = algorithm.encode()
            signature = dkim.sign(message, selector.encode(), domain.encode(), private_key(key, algorithm),
                                  canonicalize=tuple(c.encode() for c in canonicalization.split('/')),
                                  signature_algorithm=algorithm, length=(length == 'length'),
                                  include_headers=[b'from', b'to', b'subject', b'date', b'message-id'])
            sys.stdout.buffer.write(signature + message)
        elif command == 'verify':
            record = sys.argv[2].encode()
            d = dkim.DKIM(message, minkey=1024)
            count = len([h for h in d.headers if h[0].lower() == b'dkim-signature'])
            results = [d.verify(idx=i, dnsfunc=lambda name, timeout=5: record) for i in range(count)]
            print(' '.join('pass' if r else 'fail' for r in results))
            sys.exit(0 if results and all(results) else 1)
        """;

    private static readonly Lazy<string> ScriptPath = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"mailserver-dkimpy-{Environment.ProcessId}.py");
        File.WriteAllText(path, Script);
        return path;
    });

    /// <summary>Signs <paramref name="message"/> with dkimpy; returns the signed message.</summary>
    /// <exception cref="InvalidOperationException">dkimpy failed.</exception>
    public static async Task<byte[]> SignAsync(byte[] message, string keyPath, string domain, string selector, string algorithm, string canonicalization, bool withLength)
    {
        var result = await RunAsync(message, ["sign", keyPath, domain, selector, algorithm, canonicalization, withLength ? "length" : "no-length"]);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"dkimpy could not sign: {result.Error}");
        return result.Output;
    }

    /// <summary>Verifies every DKIM-Signature of <paramref name="message"/> against <paramref name="keyRecord"/> ("v=DKIM1; k=...; p=...").</summary>
    /// <returns>One "pass" or "fail" per signature, space-separated, and whether all passed.</returns>
    public static async Task<(bool AllPass, string Results)> VerifyAsync(byte[] message, string keyRecord)
    {
        var result = await RunAsync(message, ["verify", keyRecord]);
        return (result.ExitCode == 0, System.Text.Encoding.ASCII.GetString(result.Output).Trim() + result.Error);
    }

    private static async Task<(int ExitCode, byte[] Output, string Error)> RunAsync(byte[] input, IEnumerable<string> arguments)
    {
        // Debian's python3-dkim installs for the system interpreter; a python3 earlier on PATH (pyenv) may lack it.
        var info = new System.Diagnostics.ProcessStartInfo(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ScriptPath.Value);
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = System.Diagnostics.Process.Start(info)!;
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var output = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(output, limit.Token);
        var error = process.StandardError.ReadToEndAsync(limit.Token);
        await process.StandardInput.BaseStream.WriteAsync(input, limit.Token);
        process.StandardInput.Close();
        await copy;
        var errorText = await error;
        await process.WaitForExitAsync(limit.Token);
        return (process.ExitCode, output.ToArray(), errorText);
    }
}
