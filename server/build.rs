//! Compiles proto/laaster.proto with protox (a protobuf compiler in Rust, so no system
//! `protoc` is needed) and generates the tonic service and prost messages from the
//! resulting file descriptor set. The encoded descriptor set is also written to OUT_DIR
//! for gRPC server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/laaster.proto");
    let descriptors = protox::compile(["laaster.proto"], ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("laaster_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
