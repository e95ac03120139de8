# SqueezeNative — the same entry point as build.sh, for PowerShell (pwsh on Linux, macOS or Windows).
#   ./build.ps1 build | test | verify | bindings | demo | bench ... | gpu-bundle ...
# On Linux it delegates to build.sh (one implementation of each verb); elsewhere it runs the
# CMake and dotnet steps directly (no apt installs: install CMake, a C++ compiler, libclang and
# GoogleTest yourself).
param(
    [Parameter(Position = 0)][string]$Verb = "build",
    [Parameter(Position = 1, ValueFromRemainingArguments = $true)][string[]]$Rest = @()
)
$ErrorActionPreference = "Stop"
$Root = $PSScriptRoot
if (-not $env:SQUEEZE_SHARED) { $env:SQUEEZE_SHARED = Join-Path (Split-Path $Root -Parent) "shared" }
$Configuration = if ($env:CONFIGURATION) { $env:CONFIGURATION } else { "Release" }

if ($IsLinux -and (Get-Command bash -ErrorAction SilentlyContinue)) {
    & bash (Join-Path $Root "build.sh") $Verb @Rest
    exit $LASTEXITCODE
}

function Invoke-Step([string]$Name, [scriptblock]$Body) {
    Write-Host "==> $Name" -ForegroundColor Cyan
    & $Body
    if ($LASTEXITCODE -ne 0) { throw "$Name failed with exit code $LASTEXITCODE" }
}
function Build-Native([string]$Dir, [string[]]$Extra) {
    Invoke-Step "native library ($Dir)" { cmake -S (Join-Path $Root "cpp") -B $Dir -DCMAKE_BUILD_TYPE=Release @Extra }
    Invoke-Step "native build" { cmake --build $Dir --config Release -j }
}
function Build-Managed { Invoke-Step "managed code" { dotnet build (Join-Path $Root "SqueezeNative.sln") -c $Configuration -nologo } }
function Invoke-Squeeze { dotnet (Join-Path $Root "src/SqueezeNative.Cli/bin/$Configuration/net10.0/squeeze.dll") @args }

$native = Join-Path $Root "build/native"
switch ($Verb) {
    "build" { Build-Native $native @(); Build-Managed }
    "test" {
        Build-Native $native @()
        Invoke-Step "native tests" { ctest --test-dir $native --output-on-failure -C Release }
        Build-Managed
        Invoke-Step "managed tests" { dotnet test (Join-Path $Root "SqueezeNative.sln") -c $Configuration --no-build --filter "Category!=Verify" }
    }
    "verify" { Build-Native $native @(); Build-Managed; Invoke-Step "verify" { dotnet test (Join-Path $Root "SqueezeNative.sln") -c $Configuration --no-build --filter "Category=Verify" } }
    "bindings" {
        Invoke-Step "bindings" { dotnet run --project (Join-Path $Root "src/SqueezeNative.BindGen") -c $Configuration -- --header (Join-Path $Root "cpp/include/squeeze_native.h") --out (Join-Path $Root "src/SqueezeNative.Bindings/Generated") }
    }
    "demo" {
        Build-Native $native @(); Build-Managed
        $model = Join-Path $env:SQUEEZE_SHARED "models/llama"
        Invoke-Step "inspect" { Invoke-Squeeze inspect $model }
        Invoke-Step "generate" { Invoke-Squeeze generate $model --prompt "The President of the United States said that" --max-tokens 48 }
        Invoke-Step "eval" { Invoke-Squeeze eval $model --dataset wikitext2 --limit 4 }
    }
    "bench" { Build-Native $native @(); Build-Managed; Invoke-Squeeze bench @Rest }
    "gpu-bundle" { throw "gpu-bundle packs a linux-x64 bundle: run it on Linux (./build.sh gpu-bundle)" }
    default { throw "unknown verb '$Verb' (build | test | verify | bindings | demo | bench | gpu-bundle)" }
}
