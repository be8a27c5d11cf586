using System.Security.Cryptography;
using System.Text;
using MailServer.Server.Configuration;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace MailServer.Server.Keys;

/// <summary>
/// Master key versions held in a PKCS#11 token (an HSM; SoftHSM from Debian in the tests).
/// <para>
/// Each version is an AES-256 secret key object in the token, labelled <c>name</c>, <c>name.v2</c>, ..., generated
/// inside it with <c>CKA_SENSITIVE</c> true and <c>CKA_EXTRACTABLE</c> false: its value never leaves the token, not
/// even to us. The master key the store works with is derived from it inside the token, with <c>C_Encrypt</c>
/// (<c>CKM_AES_ECB</c>) of the two 16-byte halves of SHA-256("urn:mailserver:organization/&lt;id&gt;/master-key/v&lt;n&gt;"):
/// AES used as a pseudo-random function over two distinct blocks, a counter-mode derivation in the manner of NIST SP
/// 800-108. It lives in this process's memory only (as unwrapped mailbox keys do), is never written or logged, and
/// destroying the token object (<c>C_DestroyObject</c>, done when a rotation retires the version) makes it
/// unrecoverable.
/// </para>
/// <para>
/// Why not unwrap every mailbox key inside the token? The key hierarchy derives each mailbox's wrapping key with HKDF
/// from the master key and the mailbox's ledger secret (that is what makes crypto-shredding and rotation by re-wrap
/// work), which PKCS#11 tokens do not offer as one mechanism; and a token round trip on every mailbox key unwrap
/// would put the HSM on the path of every message read. Deriving once per version keeps the one secret that matters
/// (the token key) in the token and the HSM off the hot path; revoking it revokes everything.
/// </para>
/// The PIN comes from a file or an environment variable, is used for <c>C_Login</c> and never kept in a string that
/// outlives the login or written anywhere. Thread-safe: one logged-in session per token, used under a lock.
/// </summary>
internal sealed class Pkcs11MasterKeys : IDisposable
{
    private static readonly Pkcs11InteropFactories Factories = new();
    private static readonly Dictionary<string, IPkcs11Library> Libraries = new(StringComparer.Ordinal);
    private static readonly Lock LibrariesLock = new();

    private readonly Pkcs11Config _config;
    private readonly Func<string, string?> _environment;
    private readonly Lock _lock = new();
    private ISession? _session;

    static Pkcs11MasterKeys()
    {
        // Pkcs11Interop loads modules through dlopen from "libdl"; Debian 12 ships only libdl.so.2 (the unversioned name
        // comes with libc6-dev), so the wrapper's import is pointed at the runtime library.
        System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(typeof(Pkcs11InteropFactories).Assembly, (name, assembly, path) =>
            name == "libdl" && OperatingSystem.IsLinux() && System.Runtime.InteropServices.NativeLibrary.TryLoad("libdl.so.2", out var handle) ? handle : IntPtr.Zero);
    }

    /// <param name="config">The module, token and PIN source.</param>
    /// <param name="environment">Reads an environment variable (tests pass their own).</param>
    public Pkcs11MasterKeys(Pkcs11Config config, Func<string, string?> environment)
    {
        _config = config;
        _environment = environment;
    }

    /// <summary>The derived master key of the token object <paramref name="label"/>, for organization <paramref name="organizationId"/>.</summary>
    /// <param name="organizationId">The organization (part of the derivation input).</param>
    /// <param name="version">The master key version (part of the derivation input).</param>
    /// <param name="label">The key object's <c>CKA_LABEL</c>.</param>
    /// <param name="create">Generate the object in the token when it does not exist (version 1 at the first start, a rotation's new version).</param>
    /// <exception cref="KeyNotFoundException">The object does not exist and <paramref name="create"/> is false.</exception>
    /// <exception cref="InvalidOperationException">The module, the token or the login failed; the message says which and why, never the PIN.</exception>
    public byte[] Derive(string organizationId, int version, string label, bool create)
    {
        lock (_lock)
        {
            var session = Session();
            var key = Find(session, label);
            if (key is null)
            {
                if (!create)
                    throw new KeyNotFoundException($"The PKCS#11 token '{_config.TokenLabel}' has no key '{label}' (master key version {version}).");
                key = Generate(session, label);
            }
            var input = SHA256.HashData(Encoding.UTF8.GetBytes($"urn:mailserver:organization/{organizationId}/master-key/v{version}"));
            try
            {
                using var mechanism = Factories.MechanismFactory.Create(CKM.CKM_AES_ECB);
                var derived = session.Encrypt(mechanism, key, input);
                if (derived.Length != 32)
                    throw new InvalidOperationException($"The PKCS#11 token '{_config.TokenLabel}' returned {derived.Length} bytes for '{label}' instead of 32.");
                return derived;
            }
            catch (Pkcs11Exception e)
            {
                throw new InvalidOperationException($"The PKCS#11 token '{_config.TokenLabel}' cannot encrypt with the key '{label}' ({e.RV}).", e);
            }
        }
    }

    /// <summary>True when the token holds the key object <paramref name="label"/>.</summary>
    /// <exception cref="InvalidOperationException">The module, the token or the login failed.</exception>
    public bool Exists(string label)
    {
        lock (_lock)
            return Find(Session(), label) is not null;
    }

    /// <summary>Destroys the key object <paramref name="label"/> in the token (<c>C_DestroyObject</c>); nothing when it is gone.</summary>
    /// <exception cref="InvalidOperationException">The module, the token or the login failed.</exception>
    public void Destroy(string label)
    {
        lock (_lock)
        {
            var session = Session();
            if (Find(session, label) is { } key)
                session.DestroyObject(key);
        }
    }

    /// <summary>Where a version lives, for operators: an RFC 7512 PKCS#11 URI (never the key).</summary>
    public string Describe(string label) => $"pkcs11:token={Uri.EscapeDataString(_config.TokenLabel)};object={Uri.EscapeDataString(label)}";

    public void Dispose()
    {
        lock (_lock)
        {
            try
            {
                _session?.Logout();
            }
            catch (Pkcs11Exception)
            {
                // already logged out (another session of the process did it)
            }
            _session?.Dispose();
            _session = null;
        }
    }

    private IObjectHandle? Find(ISession session, string label)
    {
        var template = new List<IObjectAttribute>
        {
            Factories.ObjectAttributeFactory.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_LABEL, label),
        };
        var found = session.FindAllObjects(template);
        return found.Count switch
        {
            0 => null,
            1 => found[0],
            _ => throw new InvalidOperationException($"The PKCS#11 token '{_config.TokenLabel}' holds {found.Count} keys labelled '{label}'; keep one."),
        };
    }

    private static IObjectHandle Generate(ISession session, string label)
    {
        var template = new List<IObjectAttribute>
        {
            Factories.ObjectAttributeFactory.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_LABEL, label),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_VALUE_LEN, 32UL),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_TOKEN, true),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_PRIVATE, true),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_SENSITIVE, true),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_EXTRACTABLE, false),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_ENCRYPT, true),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_DECRYPT, false),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_WRAP, false),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_UNWRAP, false),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_SIGN, false),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_VERIFY, false),
            Factories.ObjectAttributeFactory.Create(CKA.CKA_DERIVE, false),
        };
        using var mechanism = Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_GEN);
        return session.GenerateKey(mechanism, template);
    }

    /// <summary>The logged-in session, opened on first use.</summary>
    private ISession Session()
    {
        if (_session is not null)
            return _session;
        IPkcs11Library library;
        lock (LibrariesLock)
        {
            if (!Libraries.TryGetValue(_config.Library, out library!))
            {
                try
                {
                    library = Factories.Pkcs11LibraryFactory.LoadPkcs11Library(Factories, _config.Library, AppType.MultiThreaded);
                }
                catch (Exception e) when (e is UnmanagedException or Pkcs11Exception or DllNotFoundException or BadImageFormatException)
                {
                    throw new InvalidOperationException($"The PKCS#11 module {_config.Library} cannot be loaded: {e.Message}", e);
                }
                Libraries[_config.Library] = library;
            }
        }
        ISlot slot;
        try
        {
            slot = library.GetSlotList(SlotsType.WithTokenPresent).FirstOrDefault(s => s.GetTokenInfo().Label.Trim() == _config.TokenLabel)
                   ?? throw new InvalidOperationException($"No PKCS#11 token labelled '{_config.TokenLabel}' in {_config.Library} (initialise it first, e.g. " +
                                                          $"softhsm2-util --init-token --free --label {_config.TokenLabel}).");
        }
        catch (Pkcs11Exception e)
        {
            throw new InvalidOperationException($"The PKCS#11 module {_config.Library} cannot list its tokens ({e.RV}).", e);
        }
        var pin = ReadPin();
        var session = slot.OpenSession(SessionType.ReadWrite);
        try
        {
            session.Login(CKU.CKU_USER, pin);
        }
        catch (Pkcs11Exception e) when (e.RV == CKR.CKR_USER_ALREADY_LOGGED_IN)
        {
            // another session of this process logged in to the token: the login is per application and token
        }
        catch (Pkcs11Exception e)
        {
            session.Dispose();
            throw new InvalidOperationException(e.RV switch
            {
                CKR.CKR_PIN_INCORRECT => $"The PIN of the PKCS#11 token '{_config.TokenLabel}' is wrong ({PinSource}); the token refused the login (CKR_PIN_INCORRECT).",
                CKR.CKR_PIN_LOCKED => $"The user PIN of the PKCS#11 token '{_config.TokenLabel}' is locked after too many wrong attempts (CKR_PIN_LOCKED).",
                _ => $"The login to the PKCS#11 token '{_config.TokenLabel}' failed ({e.RV}).",
            }, e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pin);
        }
        return _session = session;
    }

    private string PinSource => _config.PinFile is not null ? "PinFile " + _config.PinFile : "environment variable " + _config.PinEnvironmentVariable;

    private byte[] ReadPin()
    {
        string text;
        if (_config.PinFile is { } file)
        {
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"The PIN file {file} of the PKCS#11 token '{_config.TokenLabel}' cannot be read: {e.Message}", e);
            }
        }
        else
        {
            text = _environment(_config.PinEnvironmentVariable!)
                   ?? throw new InvalidOperationException($"The environment variable {_config.PinEnvironmentVariable} (the PIN of the PKCS#11 token '{_config.TokenLabel}') is not set.");
        }
        return Encoding.UTF8.GetBytes(text.TrimEnd('\r', '\n'));
    }
}
