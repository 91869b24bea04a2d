//! Build-time facts for the tests: whether Flink (PyFlink) is there to
//! referee `tests/flink.rs`. Without it that test shows as ignored, with
//! the reason, instead of passing without running.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(flowc_flink)");
    println!("cargo::rerun-if-env-changed=FLOWC_FLINK_PYTHON");
    println!("cargo::rerun-if-env-changed=FLOWC_REQUIRE_FLINK");
    if std::env::var_os("FLOWC_FLINK_PYTHON").is_some() || std::env::var_os("FLOWC_REQUIRE_FLINK").is_some() {
        println!("cargo::rustc-cfg=flowc_flink");
    }
}
