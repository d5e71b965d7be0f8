using DistTrain.Cli.Output;

namespace DistTrain.Cli.Tests;

public class OutputFolderTests
{
    [Fact]
    public void Validate_creates_a_missing_folder_and_leaves_it_empty()
    {
        using var dir = new TempFolder();
        var target = Path.Combine(dir.Path, "runs", "first");

        var full = RunOutput.Validate(target);

        Assert.Equal(Path.GetFullPath(target), full);
        Assert.True(Directory.Exists(target));
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    [Fact]
    public void Validate_names_the_folder_when_its_parent_is_a_file()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("blocker"), "x");
        var target = Path.Combine(dir.Path, "blocker", "run");

        var e = Assert.Throws<OutputFolderException>(() => RunOutput.Validate(target));
        Assert.Contains(target, e.Message);
        Assert.StartsWith("Cannot create the output folder", e.Message);
        Assert.Equal(target, e.Folder);
    }

    [Fact]
    public void Validate_rejects_an_existing_file_as_the_output_folder()
    {
        using var dir = new TempFolder();
        var file = dir.File("summary.json");
        File.WriteAllText(file, "{}");

        var e = Assert.Throws<OutputFolderException>(() => RunOutput.Validate(file));
        Assert.Contains("is an existing file", e.Message);
    }

    [Fact]
    public void Validate_says_not_writable_for_a_folder_no_one_can_write()
    {
        // Tests may run as root, which ignores permission bits; /proc/self refuses new files even to root.
        Assert.True(OperatingSystem.IsLinux(), "this test needs Linux's /proc");
        var e = Assert.Throws<OutputFolderException>(() => RunOutput.Validate("/proc/self"));
        Assert.Contains("'/proc/self' is not writable", e.Message);
    }

    [Fact]
    public void Constructor_fails_before_any_training_on_an_unusable_folder()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("blocker"), "x");

        Assert.Throws<OutputFolderException>(() => new RunOutput(Path.Combine(dir.Path, "blocker", "run")));
    }

    [Fact]
    public void AtomicFile_removes_its_temporary_file_when_the_rename_fails()
    {
        using var dir = new TempFolder();
        var target = dir.File("occupied");
        Directory.CreateDirectory(target); // a folder where the file should go: the rename must fail

        Assert.ThrowsAny<IOException>(() => AtomicFile.Write(target, [1, 2, 3]));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
