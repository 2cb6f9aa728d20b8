// Slurm dlopen()s plugins with RTLD_LAZY; rustc links cdylibs with BIND_NOW, which would make
// dlopen fail in any host process that lacks one of the symbols we reference (spank_* are absent
// from some). Ask for lazy binding back.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,lazy");
}
