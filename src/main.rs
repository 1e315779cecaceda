fn main() {
    println!("tinynas");
}
