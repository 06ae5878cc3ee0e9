print("broker-demo")
