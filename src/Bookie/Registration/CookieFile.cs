using Pulsarish.Metadata;
using System.Text;
using Google.Protobuf;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Bookie.Registration;

/// <summary>
/// The bookie's local cookie: a file <see cref="FileName"/> (protobuf JSON) in each of its journal, ledgers and
/// index directories, written with <see cref="AtomicFile"/> (temp file, fsync, rename, directory fsync). Together with
/// <see cref="BookieRegistry.VerifyOrCreateCookieAsync(Cookie, bool, CancellationToken)"/> it keeps a bookie with
/// swapped or empty disks from rejoining silently under the same id.
/// </summary>
public static class CookieFile
{
    public const string FileName = "COOKIE";

    /// <summary>Current cookie layout version.</summary>
    public const int LayoutVersion = 1;

    /// <summary>The cookie in <paramref name="directory"/>, or null when there is none. Throws <see cref="InvalidCookieException"/> on garbage.</summary>
    public static Cookie? Read(string directory, string bookieId = "unknown")
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonParser.Default.Parse<Cookie>(File.ReadAllText(path, Encoding.UTF8));
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException)
        {
            throw new InvalidCookieException(bookieId, $"unreadable cookie file {path}: {e.Message}");
        }
    }

    /// <summary>Writes <paramref name="cookie"/> into <paramref name="directory"/> atomically and durably.</summary>
    public static void Write(string directory, Cookie cookie)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.Write(Path.Combine(directory, FileName), Encoding.UTF8.GetBytes(JsonFormatter.Default.Format(cookie)));
    }

    /// <summary>
    /// Reads the cookies of the three directories. All absent: a new cookie with a fresh instance id (not yet
    /// written; <c>IsNew</c> true). All present, equal, and naming these directories and this bookie id: that cookie.
    /// Anything else (some directory empty or swapped) throws <see cref="InvalidCookieException"/>.
    /// </summary>
    public static (Cookie Cookie, bool IsNew) LoadOrCreate(string bookieId, string journalDir, string ledgersDir, string indexDir)
    {
        var expected = new Cookie
        {
            BookieId = bookieId,
            JournalDir = Path.GetFullPath(journalDir),
            LedgersDir = Path.GetFullPath(ledgersDir),
            IndexDir = Path.GetFullPath(indexDir),
            LayoutVersion = LayoutVersion,
        };
        string[] dirs = [expected.JournalDir, expected.LedgersDir, expected.IndexDir];
        var found = new Cookie?[dirs.Length];
        int present = 0;
        for (int i = 0; i < dirs.Length; i++)
        {
            found[i] = Read(dirs[i], bookieId);
            present += found[i] is null ? 0 : 1;
        }
        if (present == 0)
        {
            expected.InstanceId = Guid.NewGuid().ToString("N");
            return (expected, true);
        }
        for (int i = 0; i < dirs.Length; i++)
        {
            if (found[i] is null)
            {
                throw new InvalidCookieException(bookieId, $"directory {dirs[i]} has no cookie while others do (empty or new disk)");
            }
        }
        var cookie = found[0]!;
        for (int i = 1; i < dirs.Length; i++)
        {
            if (!cookie.Equals(found[i]))
            {
                throw new InvalidCookieException(bookieId, $"cookie in {dirs[i]} differs from the one in {dirs[0]} (swapped disks)");
            }
        }
        expected.InstanceId = cookie.InstanceId;
        if (!cookie.Equals(expected))
        {
            throw new InvalidCookieException(
                bookieId, $"local cookie names bookie '{cookie.BookieId}' with dirs {cookie.JournalDir}, {cookie.LedgersDir}, {cookie.IndexDir}");
        }
        return (cookie, false);
    }

    /// <summary>Writes <paramref name="cookie"/> into its journal, ledgers and index directories.</summary>
    public static void WriteAll(Cookie cookie)
    {
        Write(cookie.JournalDir, cookie);
        Write(cookie.LedgersDir, cookie);
        Write(cookie.IndexDir, cookie);
    }
}
